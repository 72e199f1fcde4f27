import {
  type ApplyOptions,
  type ApplyOutcome,
  applyError,
  carryOut,
  completeLine,
  confirm,
  savedPlan,
} from '../apply/run.js'
import { KvmctlError } from '../lib/errors.js'
import { executionPlan } from '../plan/across-hosts.js'
import { redactPlan } from '../plan/redact.js'
import type { Action, Plan } from '../plan/types.js'
import { renderPlan } from '../render/plan-text.js'
import { LabHosts } from './across.js'

/**
 * apply and destroy of a lab that spans hosts: the same discipline as on one host, with a
 * session per host. Connect to every host and check its kvmctl, lock the lab on each (in a fixed
 * order), observe them all at once, plan across them, confirm, carry the steps out on their
 * hosts (the executor runs independent steps in parallel, whichever host they are on), and wait.
 * A host lost mid-apply fails the steps it was running as "outcome unknown"; the other hosts
 * finish theirs, and the next plan observes again.
 */
export async function applyAcrossHosts(options: ApplyOptions): Promise<ApplyOutcome> {
  const { style, say, topology } = options
  const hosts = await LabHosts.connect({
    topology,
    at: options.topologyAt!,
    sshConfig: options.sshConfig ?? null,
    copyKvmctl: options.copyKvmctl ?? false,
    destroy: options.destroy,
    style,
  })
  try {
    await hosts.lock(options.lockTimeout)
    const snapshots = await hosts.observe(options.destroy)
    const make = (targets: readonly string[]) => hosts.plan(snapshots, { targets, destroy: options.destroy })
    const plan = options.planFile
      ? await savedPlan(options.planFile, topology, make)
      : make(options.targets ?? [])
    const shown = options.showSensitive ? plan : redactPlan(plan, topology)
    if (!options.json || plan.actions.length === 0) say(renderPlan(shown, style))
    const observed = (plan.hosts ?? []).filter((h) => h.observed !== null).map((h) => h.name)
    const leaving = hosts.leaving()
    const members = observed.filter((h) => !leaving.includes(h))
    const ttlSeconds = options.ttlSeconds !== undefined ? options.ttlSeconds : topology.ttlSeconds
    // Each member's record names the lab's hosts (and its expiry); it names the hosts that leave
    // until they are clean, so that a failed apply leaves them known to the next one.
    const record = async (names: readonly string[]) =>
      plan.destroy
        ? null
        : (
            await Promise.all(
              members.map((h) => hosts.request(h, 'record', { ttlSeconds, hosts: hosts.described(names) })),
            )
          ).find(Boolean)
    const current = topology.hosts.map((h) => h.name)
    if (plan.actions.length === 0) {
      // Nothing to change still renews the expiry, and lets go of the hosts the lab left.
      await Promise.all(leaving.map((h) => hosts.request(h, 'finish', {})))
      await record(current)
      if (!options.destroy && options.wait) await waitAll(hosts, observed, new Map())
      return { plan: shown, result: null }
    }
    await confirm(options, plan)

    const acting = observed.filter((h) => options.destroy === false || plan.actions.some((a) => a.host === h))
    // The boot files other hosts lack are copied while the hosts prepare: both before any step.
    const [prepared] = await Promise.all([
      Promise.all(
        acting.map(async (h) => ({
          host: h,
          ...(await hosts.request(h, 'prepare', { plan: partOfPlan(plan, h) })),
        })),
      ),
      plan.destroy
        ? null
        : hosts.putBootFiles(
            acting.filter((h) => plan.actions.some((a) => a.host === h)),
            snapshots,
          ),
    ])
    const expires = await record([...current, ...leaving])
    const tcg = prepared.filter((p) => p.tcg).map((p) => p.host)
    if (tcg.length > 0)
      process.stderr.write(
        style.yellow(
          `Warning: KVM is not usable on host ${tcg.join(', ')} (no vmx/svm or no /dev/kvm): VMs run under TCG, which is slower.\n`,
        ),
      )
    if (expires)
      say(`Lab "${topology.lab}" expires at ${expires}: \`kvmctl gc --expired\` destroys it after.`)
    const offsets = options.wait ? await offsetsOf(hosts, acting) : new Map<string, Record<string, number>>()

    const steps = executionPlan(plan)
    const original = new Map(steps.actions.map((step, i) => [step.address, plan.actions[i]!]))
    const result = await carryOut(
      steps,
      async (step) => {
        const action = original.get(step.address)!
        await hosts.request(action.host!, 'step', { address: action.address })
      },
      options,
      new AbortController(),
    )
    if (!result.ok) throw applyError(result)
    // Destroy, and a host the lab left: nothing of the lab may run there, and its directory goes.
    const finished = plan.destroy && !options.targets?.length ? observed : leaving
    await Promise.all(finished.map((h) => hosts.request(h, 'finish', {})))
    if (leaving.length > 0) await record(current)
    say(completeLine(plan, style))
    if (options.wait && !plan.destroy) {
      const restarted = new Set(
        plan.actions
          .filter((a) => a.type === 'vm' && a.action !== 'delete')
          .map((a) => `${a.host}/${a.name}`),
      )
      const since = new Map(
        [...offsets].map(([h, o]) => [
          h,
          Object.fromEntries(Object.entries(o).map(([vm, at]) => [vm, restarted.has(`${h}/${vm}`) ? at : 0])),
        ]),
      )
      say('Waiting for the VMs to be ready...')
      await waitAll(hosts, observed, since)
      say(style.green('All VMs are ready.'))
    }
    return { plan: shown, result }
  } finally {
    await hosts.close()
  }
}

/** A host's share of a plan across hosts: what its step handlers are given as the plan. */
function partOfPlan(plan: Plan, host: string): Plan {
  const actions: Action[] = plan.actions.filter((a) => a.host === host)
  return { ...plan, actions }
}

async function offsetsOf(hosts: LabHosts, names: readonly string[]) {
  return new Map(
    await Promise.all(names.map(async (h) => [h, await hosts.request(h, 'offsets', {})] as const)),
  )
}

/** Each host waits for its VMs' readiness; the failures of all of them are reported together. */
async function waitAll(
  hosts: LabHosts,
  names: readonly string[],
  since: ReadonlyMap<string, Record<string, number>>,
): Promise<void> {
  const results = await Promise.allSettled(
    names.map((h) => hosts.request(h, 'wait', { since: since.get(h) ?? {} })),
  )
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`host ${names[i]}: ${(r.reason as Error).message}`] : [],
  )
  if (failed.length > 0)
    throw new KvmctlError(
      failed.join('\n\n'),
      "look at the console lines above; each VM's console log is in its host's state directory",
    )
}
