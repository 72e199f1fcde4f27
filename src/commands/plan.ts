import * as Flags from '@oclif/core/flags'
import type { ChalkInstance } from 'chalk'
import { BaseCommand } from '../base-command.js'
import { LabHosts } from '../cluster/across.js'
import type { LoadedTopology } from '../config/index.js'
import { settleImages } from '../config/resolve.js'
import { observe } from '../host/observe.js'
import { writeFileAtomic } from '../host/state.js'
import { KvmctlError } from '../lib/errors.js'
import { diff } from '../plan/diff.js'
import { redactPlan } from '../plan/redact.js'
import type { Plan as PlanType } from '../plan/types.js'
import { renderPlan } from '../render/plan-text.js'

export const showSensitiveFlag = Flags.boolean({
  summary: "Print the user data's secrets (passwords, tokens, keys...), shown as (sensitive) otherwise.",
})

export const targetFlag = Flags.string({
  summary:
    'Limit to this address (vm/web, network/lan, network/lan@b, ...) and what it depends on, or to a host (@b). Repeatable.',
  multiple: true,
})

export const copyKvmctlFlag = Flags.boolean({
  summary:
    'A lab with hosts: copy this kvmctl to a host that has none or another build (~/.cache/kvmctl/agents there; checked by its hash).',
})

export const sshConfigFlag = Flags.string({
  summary: "A lab with hosts: reach them with this ssh_config instead of the user's (ssh -F).",
  env: 'KVMCTL_SSH_CONFIG',
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
    'show-sensitive': showSensitiveFlag,
    'ssh-config': sshConfigFlag,
    'copy-kvmctl': copyKvmctlFlag,
    capacity: Flags.string({
      summary: 'What a lab too big for the host is: a warning, or an error (for CI).',
      options: ['warn', 'error'],
      default: 'warn',
    }),
  }

  async run(): Promise<void> {
    const { out, target, capacity } = this.flags
    const loaded = await this.loaded()
    const made = await planLab(loaded, {
      targets: target,
      sshConfig: this.flags['ssh-config'] ?? null,
      style: this.style,
      copyKvmctl: this.flags['copy-kvmctl'],
    })
    const plan = this.flags['show-sensitive'] ? made : redactPlan(made, loaded.topology)
    if (capacity === 'error' && plan.warnings.length > 0) {
      throw new KvmctlError(
        plan.warnings.join('\n'),
        'make the lab smaller, free host memory, or run with --capacity warn',
      )
    }
    if (out) await writeFileAtomic(out, `${JSON.stringify(plan, null, 2)}\n`)
    if (this.flags.json) this.printJson(plan)
    else {
      this.say(renderPlan(plan, this.style))
      if (out && plan.actions.length > 0) {
        this.say(`\nSaved the plan to ${out}; \`kvmctl apply ${out}\` carries out exactly this plan.`)
      }
    }
    if (this.flags['detailed-exitcode'] && plan.actions.length > 0) process.exitCode = 2
  }
}

/**
 * The plan of a lab, changing nothing: this host observed, or, for a lab with hosts:, every host
 * through its session (no lock: a plan only reads).
 */
async function planLab(
  loaded: LoadedTopology,
  options: { targets?: string[]; sshConfig: string | null; copyKvmctl: boolean; style: ChalkInstance },
): Promise<PlanType> {
  const { topology } = loaded
  if (topology.hosts.length > 0) {
    const hosts = await LabHosts.connect({
      topology,
      at: loaded.at,
      sshConfig: options.sshConfig,
      copyKvmctl: options.copyKvmctl,
      destroy: false,
      style: options.style,
    })
    try {
      return hosts.plan(await hosts.observe(false), { targets: options.targets })
    } finally {
      await hosts.close()
    }
  }
  const snapshot = await observe(topology)
  // Images with checksums have their digests from their SUMS files, observed with the host.
  return diff(settleImages(topology, snapshot.digests), snapshot, { targets: options.targets })
}
