import { Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { applyCommand } from '../cli/apply.js'
import { applyFlags } from './apply.js'

export default class Destroy extends BaseCommand<typeof Destroy> {
  static override summary = 'Remove everything this lab owns from the host, and nothing else.'
  static override description =
    "Stops the lab's VMs and deletes its taps, bridges, disks and state files: only objects marked as this lab's. A protected disk stops the destroy. With --lab, no topology file is needed: the lab's objects are found by their ownership markers."
  static override examples = [
    '<%= config.bin %> destroy -f examples/quickstart.yaml --auto-approve',
    '<%= config.bin %> destroy --lab quickstart --auto-approve   # the file is gone or broken',
  ]
  static override flags = {
    ...applyFlags,
    lab: Flags.string({ summary: 'Destroy the lab of this name without reading a topology file.' }),
  }

  async run(): Promise<void> {
    await applyCommand({
      destroy: true,
      file: this.flags.file,
      stateDir: this.flags['state-dir'],
      lab: this.flags.lab,
      targets: this.flags.target,
      autoApprove: this.flags['auto-approve'],
      parallelism: this.flags.parallelism,
      lockTimeout: this.flags['lock-timeout'],
      wait: false,
      json: this.flags.json,
      color: !this.flags['no-color'],
    })
  }
}
