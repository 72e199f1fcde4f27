import { runApply } from '../apply/run.js'
import { BaseCommand } from '../base-command.js'
import { applyFlags, outcomeJson } from './apply.js'

export default class Destroy extends BaseCommand<typeof Destroy> {
  static override summary = 'Remove everything this lab owns from the host, and nothing else.'
  static override description =
    "Stops the lab's VMs and deletes its taps, bridges, disks and state files: only objects marked as this lab's. A protected disk stops the destroy."
  static override examples = ['<%= config.bin %> destroy -f examples/quickstart.yaml --auto-approve']
  static override flags = applyFlags

  async run(): Promise<void> {
    const outcome = await runApply({
      topology: await this.topology(),
      destroy: true,
      targets: this.flags.target,
      autoApprove: this.flags['auto-approve'],
      parallelism: this.flags.parallelism,
      lockTimeout: this.flags['lock-timeout'],
      wait: false,
      json: this.flags.json,
      style: this.style,
      say: (text) => this.say(text),
    })
    if (this.flags.json) this.printJson(outcomeJson(outcome))
  }
}
