import * as Flags from '@oclif/core/flags'
import { runApply } from '../apply/run.js'
import { BaseCommand } from '../base-command.js'
import { labOnly } from '../config/index.js'
import { applyFlags, applyFlagValues, outcomeJson } from './apply.js'

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
    const { lab } = this.flags
    const loaded = lab ? null : await this.loaded()
    const outcome = await runApply({
      topology: loaded?.topology ?? labOnly(lab!, this.flags['state-dir']),
      topologyAt: loaded?.at,
      destroy: true,
      wait: false,
      ...applyFlagValues(this.flags),
      ...this.output(),
    })
    if (this.flags.json) this.printJson(outcomeJson(outcome))
  }
}
