import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { applyCommand } from '../cli/apply.js'
import { CLI_DEFAULTS } from '../cli/defaults.js'
import { targetFlag } from './plan.js'

export const applyFlags = {
  'auto-approve': Flags.boolean({ summary: 'Do not ask for confirmation (for CI).' }),
  parallelism: Flags.integer({
    summary: 'How many steps may run at once.',
    default: CLI_DEFAULTS.parallelism,
    min: 1,
  }),
  'lock-timeout': Flags.integer({
    summary: 'Seconds to wait for another apply or destroy of the same lab to finish (0: fail at once).',
    default: CLI_DEFAULTS.lockTimeout,
    min: 0,
  }),
  target: targetFlag,
}

export default class Apply extends BaseCommand<typeof Apply> {
  static override summary = 'Make the host match the topology, step by step.'
  static override description =
    'Plans (or loads a plan saved with `plan --out`), asks for confirmation on a terminal, and carries out the plan in dependency order, independent steps in parallel. A saved plan is refused when the host or the file changed since it was made.'
  static override examples = [
    '<%= config.bin %> apply -f examples/quickstart.yaml',
    '<%= config.bin %> apply --auto-approve --wait   # in CI: returns when every VM is ready',
    '<%= config.bin %> apply lab.plan',
  ]
  static override args = {
    planfile: Args.string({ description: 'A plan saved by `kvmctl plan --out FILE`.' }),
  }
  static override flags = {
    ...applyFlags,
    wait: Flags.boolean({ summary: 'Return only when every VM with a `ready:` block is ready.' }),
  }

  async run(): Promise<void> {
    const { args } = await this.parse(Apply)
    await applyCommand({
      destroy: false,
      file: this.flags.file,
      stateDir: this.flags['state-dir'],
      planFile: args.planfile,
      targets: this.flags.target,
      autoApprove: this.flags['auto-approve'],
      parallelism: this.flags.parallelism,
      lockTimeout: this.flags['lock-timeout'],
      wait: this.flags.wait,
      json: this.flags.json,
      color: !this.flags['no-color'],
    })
  }
}
