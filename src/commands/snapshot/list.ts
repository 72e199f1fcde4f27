import { listSnapshots } from '../../apply/snapshots.js'
import { BaseCommand } from '../../base-command.js'
import { renderTable } from '../../render/table.js'
import { snapshotFlags } from './flags.js'

export default class SnapshotList extends BaseCommand<typeof SnapshotList> {
  static override summary =
    "The lab's snapshots: when, which VMs, memory or disks only, and whether each is whole."
  static override examples = ['<%= config.bin %> snapshot list', '<%= config.bin %> snapshot list --json']
  static override flags = { target: snapshotFlags.target }

  async run(): Promise<void> {
    const topology = await this.topology()
    const only = new Set((this.flags.target ?? []).map((t) => t.replace(/^vm\//, '')))
    const { snapshots, damaged } = listSnapshots(topology)
    const shown = snapshots.map((s) => ({
      ...s,
      vms: s.vms.filter((v) => only.size === 0 || only.has(v.vm)),
    }))
    for (const d of damaged)
      process.stderr.write(this.style.yellow(`Warning: a damaged snapshot record: ${d}\n`))
    if (this.flags.json) {
      this.printJson({ lab: topology.lab, snapshots: shown })
      return
    }
    if (shown.length === 0) {
      this.say(`Lab "${topology.lab}" has no snapshots.`)
      return
    }
    this.say(
      renderTable(
        ['SNAPSHOT', 'CREATED', 'VM', 'STATE', 'SAVED'],
        shown.flatMap((s) =>
          s.vms.map((v, i) => [
            i === 0 ? s.name : '',
            i === 0 ? s.created.slice(0, 19).replace('T', ' ') : '',
            `vm/${v.vm}`,
            v.state,
            `${v.memory ? 'memory + ' : ''}${v.disks.join(', ')}${v.complete ? '' : this.style.red(' (incomplete: a disk lost it)')}`,
          ]),
        ),
      ),
    )
  }
}
