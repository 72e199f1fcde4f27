import * as Flags from '@oclif/core/flags'
import { saveSnapshot } from '../../apply/snapshots.js'
import { BaseCommand } from '../../base-command.js'
import { snapshotFlags, snapshotName } from './flags.js'

export default class SnapshotSave extends BaseCommand<typeof SnapshotSave> {
  static override summary = "Save the lab's VMs, memory and disks, at one moment, to restore in seconds."
  static override description =
    'All VMs are paused together, each saved (memory, devices and disks, inside its qcow2 disks), then resumed. A stopped VM is saved by its disks. --disk-only keeps just the disks: a restore then boots the VMs from them.'
  static override examples = [
    '<%= config.bin %> snapshot save base',
    '<%= config.bin %> snapshot save before-upgrade --target vm/db --disk-only',
  ]
  static override args = { name: snapshotName }
  static override flags = {
    ...snapshotFlags,
    'disk-only': Flags.boolean({ summary: 'Save the disks only, not memory: a restore boots the VMs.' }),
  }

  async run(): Promise<void> {
    const topology = await this.topology()
    const result = await saveSnapshot(topology, this.args.name, {
      targets: this.flags.target ?? [],
      lockTimeout: this.flags['lock-timeout'],
      diskOnly: this.flags['disk-only'],
    })
    if (this.flags.json) {
      this.printJson({ ...result.record, paused_seconds: result.pausedSeconds, seconds: result.seconds })
      return
    }
    for (const [vm, saved] of Object.entries(result.record.vms)) {
      const disks = saved.disks.map((d) => d.name).join(', ')
      const what = saved.memory ? `memory and disks (${disks})` : `disks (${disks}), ${saved.diskOnlyBecause}`
      this.say(`  vm/${vm}: ${what}`)
    }
    this.say(
      this.style.green(`Saved snapshot "${result.record.name}" `) +
        `of lab "${topology.lab}" in ${result.seconds.toFixed(1)}s (VMs paused ${result.pausedSeconds.toFixed(1)}s).`,
    )
  }
}
