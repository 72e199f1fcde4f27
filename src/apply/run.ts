import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { ChalkInstance } from 'chalk'
import { applyAcrossHosts } from '../cluster/apply-across.js'
import { settleImages } from '../config/resolve.js'
import { probeCapabilities, runsUnderTcg } from '../host/accel.js'
import { recordLab, removeStoppedLab } from '../host/labs.js'
import { lockLab } from '../host/lock.js'
import { observe } from '../host/observe.js'
import { explainFsError, sweepTemporaries } from '../host/state.js'
import { canonicalJson } from '../lib/canonical-json.js'
import { KvmctlError } from '../lib/errors.js'
import type { Topology } from '../model/types.js'
import { diff } from '../plan/diff.js'
import { topologyHash } from '../plan/fingerprint.js'
import { redactPlan } from '../plan/redact.js'
import type { Plan } from '../plan/types.js'
import { renderPlan } from '../render/plan-text.js'
import { confirmOnTerminal } from './confirm.js'
import { downloadImages } from './downloads.js'
import { type ApplyResult, execute, type StepRunner } from './executor.js'
import { hostStepRunner } from './host-steps.js'
import { lineProgress, listrProgress } from './progress.js'
import { consoleOffsets, waitReady } from './ready.js'

export interface ApplyOptions {
  readonly topology: Topology
  readonly destroy: boolean
  readonly planFile?: string
  readonly targets?: readonly string[]
  readonly autoApprove: boolean
  readonly parallelism: number
  readonly lockTimeout: number
  readonly wait: boolean
  /** apply --ttl: overrides the topology's ttl (seconds). */
  readonly ttlSeconds?: number
  readonly json: boolean
  /** Print the user data's secrets too (--show-sensitive); they are `(sensitive)` otherwise. */
  readonly showSensitive: boolean
  readonly style: ChalkInstance
  /** Text for people: stdout, or stderr under --json. */
  readonly say: (text: string) => void
  /** A lab with hosts: the topology with another host's state directory (LoadedTopology.at). */
  readonly topologyAt?: (stateDir: string) => Topology
  /** An ssh_config to reach the hosts with instead of the user's (--ssh-config). */
  readonly sshConfig?: string | null
  /** --copy-kvmctl: copy this kvmctl to a host that has none or another build. */
  readonly copyKvmctl?: boolean
}

export interface ApplyOutcome {
  readonly plan: Plan
  readonly result: ApplyResult | null
}

/**
 * apply and destroy: lock the lab, observe, plan (or check a saved plan against the host),
 * confirm, carry out with progress, and wait for readiness. Throws when anything failed.
 */
export async function runApply(options: ApplyOptions): Promise<ApplyOutcome> {
  if (options.topology.hosts.length > 0) return applyAcrossHosts(options)
  const { style, say } = options
  // Sockets, logs, disks and records: readable by their owner only.
  process.umask(0o077)
  const lock = await lockLab(options.topology.lab, options.lockTimeout)
  try {
    sweepTemporaries(options.topology.labDir)
    const snapshot = await observe(options.topology, { everyQemu: options.destroy })
    // Images with checksums have their digests from their SUMS files, observed with the host.
    const topology = settleImages(options.topology, snapshot.digests)
    const plan = options.planFile
      ? await savedPlan(options.planFile, topology, (targets) => diff(topology, snapshot, { targets }))
      : diff(topology, snapshot, { targets: options.targets, destroy: options.destroy })
    // What is printed and returned (for --json): the plan with its secrets hidden.
    const shown = options.showSensitive ? plan : redactPlan(plan, topology)
    if (!options.json || plan.actions.length === 0) say(renderPlan(shown, style))
    if (plan.actions.length === 0) {
      // An apply with nothing to change still renews the lab's expiry.
      if (!options.destroy && existsSync(topology.labDir)) await renewRecord(topology, options, say)
      if (options.wait && !options.destroy) await waitReady(topology, new Map())
      return { plan: shown, result: null }
    }
    await confirm(options, plan)

    const caps = await probeCapabilities()
    if (runsUnderTcg(plan, topology, caps)) {
      process.stderr.write(
        style.yellow(
          'Warning: KVM is not usable on this host (no vmx/svm or no /dev/kvm): VMs run under TCG, which is slower.\n',
        ),
      )
    }
    if (!options.destroy) {
      await downloadImages(topology, snapshot.downloads ?? [], style, (text) => process.stderr.write(text))
      await renewRecord(topology, options, say)
    }
    const offsets = await consoleOffsets(topology)

    const interrupt = new AbortController()
    const result = await carryOut(
      plan,
      hostStepRunner({ topology, plan, snapshot, caps }),
      options,
      interrupt,
    )
    if (!result.ok) throw applyError(result)
    // Only a whole destroy leaves debris to sweep; a targeted one keeps the rest of the lab's records.
    if (plan.destroy && !options.targets?.length) await removeStoppedLab(topology)
    say(completeLine(plan, style))
    if (options.wait && !plan.destroy) {
      const restarted = new Set(
        plan.actions.filter((a) => a.type === 'vm' && a.action !== 'delete').map((a) => a.name),
      )
      const since = new Map([...offsets].map(([vm, offset]) => [vm, restarted.has(vm) ? offset : 0]))
      say('Waiting for the VMs to be ready...')
      await waitReady(topology, since, interrupt.signal)
      say(style.green('All VMs are ready.'))
    }
    return { plan: shown, result }
  } finally {
    await lock.release()
  }
}

/** The last line of an apply or destroy that went through. */
export function completeLine(plan: Plan, style: ChalkInstance): string {
  const s = plan.summary
  return (
    style.green(`${plan.destroy ? 'Destroy' : 'Apply'} complete: `) +
    `${s.create} created, ${s.update} updated, ${s.restart} restarted, ${s.replace} replaced, ${s.delete} deleted.`
  )
}

/**
 * Runs a plan's steps with progress (listr2 on a terminal, lines elsewhere); Ctrl-C or SIGTERM
 * finishes the steps in flight and starts no new one.
 */
export async function carryOut(
  plan: Plan,
  runStep: StepRunner,
  options: Pick<ApplyOptions, 'json' | 'parallelism' | 'style'>,
  interrupt: AbortController,
): Promise<ApplyResult> {
  const onSigint = () => {
    if (interrupt.signal.aborted) return
    interrupt.abort()
    process.stderr.write('\nInterrupted: finishing the steps in flight, starting no new ones...\n')
  }
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigint)
  try {
    const tty = process.stderr.isTTY && !options.json && !process.env.CI
    const progress = tty ? await listrProgress(plan.actions) : null
    const hooks = progress?.hooks ?? lineProgress(options.style, (line) => process.stderr.write(`${line}\n`))
    const result = await execute(plan, runStep, {
      parallelism: options.parallelism,
      signal: interrupt.signal,
      hooks,
    })
    await progress?.finished
    return result
  } finally {
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigint)
  }
}

/** The lab's record (lab.json) at an apply; with a ttl, says until when the lab may live. */
async function renewRecord(topology: Topology, options: ApplyOptions, say: (text: string) => void) {
  const ttl = options.ttlSeconds !== undefined ? options.ttlSeconds : topology.ttlSeconds
  const expires = await recordLab(topology, ttl).catch((error) => {
    throw explainFsError(error)
  })
  if (expires) say(`Lab "${topology.lab}" expires at ${expires}: \`kvmctl gc --expired\` destroys it after.`)
}

export async function confirm(options: Pick<ApplyOptions, 'autoApprove'>, plan: Plan): Promise<void> {
  if (options.autoApprove) return
  await confirmOnTerminal(
    `${plan.destroy ? 'Destroy' : 'Apply'} these changes to lab "${plan.lab}"?`,
    plan.destroy ? 'destroy' : 'apply',
  )
}

/**
 * A plan saved by `plan --out`, checked against now: nothing in the file is trusted to name a
 * path or a process. The plan is made again (`fresh`, from the topology and the host as they are,
 * with the saved plan's targets), and carried out only when its actions are exactly the saved
 * ones, the actions a person reviewed.
 */
export async function savedPlan(
  file: string,
  topology: Topology,
  fresh: (targets: readonly string[]) => Plan | Promise<Plan>,
): Promise<Plan> {
  const version = topology.hosts.length > 0 ? 2 : 1
  let plan: Plan
  try {
    plan = JSON.parse(await readFile(file, 'utf8')) as Plan
  } catch (error) {
    throw new KvmctlError(
      `cannot read the plan ${file}: ${(error as Error).message}`,
      'make one with `kvmctl plan --out FILE`',
    )
  }
  if (plan?.format_version !== version || !Array.isArray(plan.actions) || typeof plan.observed !== 'string') {
    throw new KvmctlError(
      `${file} is not a kvmctl plan (format_version ${version}${version === 2 ? ', a lab with hosts:' : ''})`,
      'make one with `kvmctl plan --out FILE`',
    )
  }
  if (plan.lab !== topology.lab) {
    throw new KvmctlError(
      `${file} is a plan for lab "${plan.lab}", not "${topology.lab}"`,
      'pass the topology it was made from with -f',
    )
  }
  if (plan.topology !== topologyHash(topology)) {
    throw new KvmctlError(
      `the topology changed since ${file} was made; nothing was changed`,
      'run `kvmctl plan --out FILE` again and review it',
    )
  }
  const targets = Array.isArray(plan.targets) ? plan.targets.filter((t) => typeof t === 'string') : []
  const made = await fresh(targets)
  if (plan.observed !== made.observed) {
    const changed = (made.hosts ?? [])
      .filter((h) => plan.hosts?.find((s) => s.name === h.name)?.observed !== h.observed)
      .map((h) => h.name)
    throw new KvmctlError(
      `${changed.length > 0 ? `host ${changed.join(', ')}` : 'the host'} changed since ${file} was made, so it no longer shows what apply would do; nothing was changed`,
      'run `kvmctl plan --out FILE` again and review it',
    )
  }
  // A saved plan hides secrets unless it was made with --show-sensitive.
  if (reviewed(redactPlan(made, topology)) !== reviewed(plan) && reviewed(made) !== reviewed(plan)) {
    throw new KvmctlError(
      `${file} is not the plan kvmctl makes from this topology and ${version === 2 ? 'these hosts' : 'this host'} (was it edited?); nothing was changed`,
      'run `kvmctl plan --out FILE` again and review it',
    )
  }
  return made
}

/** What a person reviews in a plan: each action, its changes, and their order. */
function reviewed(plan: Plan): string {
  return canonicalJson({
    lab: plan.lab,
    destroy: plan.destroy,
    actions: (plan.actions ?? []).map((a) => [
      a.address,
      a.host,
      a.action,
      a.changes,
      a.destroys_data,
      a.depends_on,
    ]),
  })
}

export function applyError(result: ApplyResult): KvmctlError {
  const lines = result.failed.map((f) => `${f.address}: ${f.error.message}`)
  if (result.interrupted) lines.push(`interrupted: ${result.skipped.length} step(s) not started`)
  else if (result.skipped.length > 0)
    lines.push(`not done because of the failure: ${result.skipped.map((s) => s.address).join(', ')}`)
  return new KvmctlError(
    lines.join('\n'),
    'fix the cause and run `kvmctl apply` again: it picks up where this one stopped',
  )
}
