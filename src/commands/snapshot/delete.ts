import { confirmOnTerminal } from '../../apply/confirm.js'
import { deleteSnapshot } from '../../apply/snapshots.js'
import { BaseCommand } from '../../base-command.js'
import { snapshotFlags, snapshotName } from './flags.js'

export default class SnapshotDelete extends BaseCommand<typeof SnapshotDelete> {
  static override summary = 'Delete a snapshot from the disks (with --target, only its part of those VMs).'
  static override examples = ['<%= config.bin %> snapshot delete base --auto-approve']
  static override args = { name: snapshotName }
  static override flags = snapshotFlags

  async run(): Promise<void> {
    const topology = await this.topology()
    if (!this.flags['auto-approve'])
      await confirmOnTerminal(
        `Delete snapshot "${this.args.name}" of lab "${topology.lab}"?`,
        'delete a snapshot',
      )
    const record = await deleteSnapshot(topology, this.args.name, {
      targets: this.flags.target ?? [],
      lockTimeout: this.flags['lock-timeout'],
    })
    if (this.flags.json) this.printJson({ deleted: record.name, targets: this.flags.target ?? [] })
    else {
      const part = this.flags.target?.length ? `${this.flags.target.join(', ')}'s part of ` : ''
      this.say(this.style.green(`Deleted ${part}snapshot "${record.name}".`))
    }
  }
}
