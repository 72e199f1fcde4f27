import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { type ApplyOutcome, runApply } from '../apply/run.js'
import { BaseCommand } from '../base-command.js'
import { KvmctlError } from '../lib/errors.js'
import { DURATION_HINT, parseDuration } from '../lib/units.js'
import { copyKvmctlFlag, showSensitiveFlag, sshConfigFlag, targetFlag } from './plan.js'

/** The flags apply and destroy share. */
export const applyFlags = {
  'auto-approve': Flags.boolean({ summary: 'Do not ask for confirmation (for CI).' }),
  parallelism: Flags.integer({ summary: 'How many steps may run at once.', default: 4, min: 1 }),
  'lock-timeout': Flags.integer({
    summary: 'Seconds to wait for another apply or destroy of the same lab to finish (0: fail at once).',
    default: 0,
    min: 0,
  }),
  target: targetFlag,
  'show-sensitive': showSensitiveFlag,
  'ssh-config': sshConfigFlag,
  'copy-kvmctl': copyKvmctlFlag,
}

/** What the shared flags ask of runApply. */
export function applyFlagValues(flags: {
  'auto-approve': boolean
  parallelism: number
  'lock-timeout': number
  target?: string[]
  'show-sensitive': boolean
  'ssh-config'?: string
  'copy-kvmctl': boolean
}) {
  return {
    sshConfig: flags['ssh-config'] ?? null,
    copyKvmctl: flags['copy-kvmctl'],
    autoApprove: flags['auto-approve'],
    parallelism: flags.parallelism,
    lockTimeout: flags['lock-timeout'],
    targets: flags.target,
    showSensitive: flags['show-sensitive'],
  }
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
    ttl: Flags.string({
      summary:
        "Let the lab live this long after this apply, like 2h (overrides the file's ttl); `kvmctl gc --expired` destroys it after.",
    }),
  }

  async run(): Promise<void> {
    const ttl = this.flags.ttl
    const ttlSeconds = ttl === undefined ? undefined : parseDuration(ttl)
    if (ttlSeconds === null)
      throw new KvmctlError(
        `--ttl ${JSON.stringify(ttl)} is not a duration`,
        `write it like 90s, 30m or 2h (${DURATION_HINT})`,
      )
    const loaded = await this.loaded()
    const outcome = await runApply({
      ttlSeconds,
      topology: loaded.topology,
      topologyAt: loaded.at,
      destroy: false,
      planFile: this.args.planfile,
      wait: this.flags.wait,
      ...applyFlagValues(this.flags),
      ...this.output(),
    })
    if (this.flags.json) this.printJson(outcomeJson(outcome))
  }
}

/** The document `apply --json` and `destroy --json` print: the plan and what became of each step. */
export function outcomeJson(outcome: ApplyOutcome) {
  return {
    plan: outcome.plan,
    result: outcome.result
      ? {
          ok: outcome.result.ok,
          done: outcome.result.done,
          failed: outcome.result.failed.map((f) => ({ address: f.address, error: f.error.message })),
          skipped: outcome.result.skipped,
        }
      : { ok: true, done: [], failed: [], skipped: [] },
  }
}
