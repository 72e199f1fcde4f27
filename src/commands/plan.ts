import { Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { planCommand } from '../cli/plan.js'

export const targetFlag = Flags.string({
  summary: 'Limit to this address (vm/web, network/lan, ...) and what it depends on. Repeatable.',
  multiple: true,
})

export default class Plan extends BaseCommand<typeof Plan> {
  static override summary = 'Show what apply would change on this host; change nothing.'
  static override description =
    'Observes the host (bridges, taps, disks, QEMU processes of this lab), compares it with the topology and prints the actions: + create, ~ update in-place, ~ restart, -/+ replace, - delete.'
  static override examples = [
    '<%= config.bin %> plan -f examples/quickstart.yaml',
    '<%= config.bin %> plan --out lab.plan && <%= config.bin %> apply lab.plan',
    '<%= config.bin %> plan --detailed-exitcode   # 0: no changes, 2: changes, 1: error',
  ]
  static override flags = {
    out: Flags.string({ summary: 'Save the plan to this file, for `kvmctl apply FILE`.' }),
    'detailed-exitcode': Flags.boolean({ summary: 'Exit 2 when there are changes, 0 when there are none.' }),
    target: targetFlag,
    capacity: Flags.string({
      summary: 'What a lab too big for the host is: a warning, or an error (for CI).',
      options: ['warn', 'error'],
      default: 'warn',
    }),
  }

  async run(): Promise<void> {
    await planCommand({
      file: this.flags.file,
      stateDir: this.flags['state-dir'],
      json: this.flags.json,
      color: !this.flags['no-color'],
      out: this.flags.out,
      targets: this.flags.target,
      detailedExitcode: this.flags['detailed-exitcode'],
      capacity: this.flags.capacity as 'warn' | 'error',
    })
  }
}
