import * as Flags from '@oclif/core/flags'
import { confirmOnTerminal } from '../../apply/confirm.js'
import { consoleOffsets, waitReady } from '../../apply/ready.js'
import { restoreSnapshot } from '../../apply/snapshots.js'
import { BaseCommand } from '../../base-command.js'
import { renderRestorePlan } from '../../render/restore-text.js'
import { snapshotFlags, snapshotName } from './flags.js'

export default class SnapshotRestore extends BaseCommand<typeof SnapshotRestore> {
  static override summary = 'Bring the lab back to a snapshot: running guests from memory, in seconds.'
  static override description =
    'Shows what it will do first, as a plan, and asks (or --auto-approve). A VM whose configuration changed since the save gets its disks back and restarts; a protected disk is never rolled back (restore the other VMs with --target).'
  static override examples = [
    '<%= config.bin %> snapshot restore base --auto-approve',
    '<%= config.bin %> snapshot restore base --target vm/web',
  ]
  static override args = { name: snapshotName }
  static override flags = {
    ...snapshotFlags,
    wait: Flags.boolean({ summary: 'Return only when the VMs that booted again are ready.' }),
  }

  async run(): Promise<void> {
    const topology = await this.topology()
    const offsets = await consoleOffsets(topology)
    const { plan, seconds } = await restoreSnapshot(topology, {
      name: this.args.name,
      targets: this.flags.target ?? [],
      lockTimeout: this.flags['lock-timeout'],
      confirm: async (plan) => {
        // On stderr under --json: a person approving still sees what they approve.
        this.say(renderRestorePlan(plan, topology.lab, this.style))
        if (!this.flags['auto-approve'])
          await confirmOnTerminal(`Restore lab "${topology.lab}" to snapshot "${plan.snapshot}"?`, 'restore')
      },
    })
    this.say(
      this.style.green('Restore complete: ') +
        `${plan.steps.length} VM(s) back at snapshot "${plan.snapshot}" in ${seconds.toFixed(1)}s.`,
    )
    const booted = new Set(plan.steps.filter((s) => !s.memory && s.restart).map((s) => s.vm))
    if (this.flags.wait && booted.size > 0) {
      this.say('Waiting for the VMs that boot again to be ready...')
      await waitReady({ ...topology, vms: topology.vms.filter((v) => booted.has(v.name)) }, offsets)
      this.say(this.style.green('All VMs are ready.'))
    }
    if (this.flags.json) this.printJson({ ...plan, seconds })
  }
}
