import { createHash } from 'node:crypto'
import { canonicalJson } from '../lib/canonical-json.js'
import { KvmctlError, PlanError, type PlanProblem } from '../lib/errors.js'
import { didYouMean } from '../lib/suggest.js'
import { hostResources } from '../model/address.js'
import type { HostSnapshot } from '../model/snapshot.js'
import type { Address, LabHost, Topology } from '../model/types.js'
import { diff } from './diff.js'
import { fingerprint } from './fingerprint.js'
import { ACTION_KINDS, type Action, type ActionKind, type Plan, type PlanHost } from './types.js'

/** One host of a lab that spans hosts, as the controller found it. */
export interface HostPart {
  readonly host: LabHost
  /** Its part of the lab (src/model/placement.ts), with its own state directory's paths. */
  readonly topology: Topology
  /** What it has; null when it could not be reached. */
  readonly snapshot: HostSnapshot | null
  readonly version: string | null
  /** The MTU of the link that holds its underlay address. */
  readonly underlayMtu: number | null
  readonly unreachable: string | null
  /** In the lab's last apply, no longer in hosts: all of its part goes. */
  readonly leaving: boolean
  /** What the controller found wrong with the part (a boot file it cannot read to copy). */
  readonly problems?: readonly PlanProblem[]
}

export interface AcrossOptions {
  /** Addresses (vm/web, network/lan@b) and hosts (@b). */
  readonly targets?: readonly string[]
  readonly destroy?: boolean
}

/**
 * The plan of a lab that spans hosts: each host's part planned by the one planner against what
 * that host has, then put together (format_version 2): actions grouped by host in the order of
 * hosts:, each with its host, and per host a fingerprint of what was observed. A host that could
 * not be reached fails the plan, unless --target leaves it out (then the plan says so).
 */
export function planAcross(
  lab: string,
  topologyHash: string,
  parts: readonly HostPart[],
  options: AcrossOptions,
): Plan {
  const targets = options.targets ?? []
  const selection = selectHosts(parts, targets)
  const actions: Action[] = []
  const notes: string[] = []
  const warnings: string[] = []
  const problems: PlanProblem[] = []
  for (const part of parts) {
    const name = part.host.name
    const chosen = selection.get(name)
    if (chosen === undefined) {
      if (part.unreachable)
        notes.push(`host ${name} (${part.host.ssh}) was not observed: ${part.unreachable}`)
      continue
    }
    if (part.unreachable || !part.snapshot) {
      problems.push({
        address: `host ${name}`,
        message: `unreachable (${part.host.ssh}): ${part.unreachable}`,
      })
      continue
    }
    const extra = [...partProblems(part), ...(part.problems ?? [])]
    let plan: Plan
    try {
      if (extra.length > 0) throw new PlanError(extra)
      plan = diff(part.topology, part.snapshot, { targets: chosen, destroy: options.destroy })
    } catch (error) {
      if (!(error instanceof PlanError)) throw error
      problems.push(
        ...error.problems.map((p) => ({ address: `${p.address} on host ${name}`, message: p.message })),
      )
      continue
    }
    actions.push(...plan.actions.map((a) => ({ ...a, host: name })))
    notes.push(...plan.notes.map((n) => `host ${name}: ${n}`))
    warnings.push(...plan.warnings.map((w) => `host ${name}: ${w}`))
  }
  if (problems.length > 0) throw new PlanError(problems)
  notes.push(...moves(actions))
  const hosts: PlanHost[] = parts.map((p) => ({
    name: p.host.name,
    ssh: p.host.ssh,
    version: p.version,
    underlay: p.host.underlay,
    observed: p.snapshot ? fingerprint(p.snapshot) : null,
    unreachable: p.unreachable,
    leaving: p.leaving,
  }))
  const summary = Object.fromEntries(ACTION_KINDS.map((k) => [k, 0])) as Record<ActionKind, number>
  for (const action of actions) summary[action.action]++
  return {
    format_version: 2,
    lab,
    observed: `sha256:${createHash('sha256')
      .update(canonicalJson(hosts.map((h) => [h.name, h.observed])))
      .digest('hex')}`,
    topology: topologyHash,
    actions,
    summary,
    warnings,
    notes,
    lab_dir: '',
    destroy: options.destroy === true,
    targets,
    hosts,
  }
}

/**
 * Which hosts a plan covers and, for each, the --target addresses there ([]: all of it). `@b`
 * takes host b whole; an address goes to the host whose part has it.
 */
function selectHosts(parts: readonly HostPart[], targets: readonly string[]): Map<string, Address[]> {
  const selection = new Map<string, Address[]>()
  if (targets.length === 0) {
    for (const part of parts) selection.set(part.host.name, [])
    return selection
  }
  const whole = new Set<string>()
  const unknown: string[] = []
  for (const target of targets) {
    if (target.startsWith('@')) {
      const name = target.slice(1)
      if (!parts.some((p) => p.host.name === name)) unknown.push(target)
      else whole.add(name)
      continue
    }
    const part = parts.find((p) => knownAddresses(p).includes(target))
    if (!part) unknown.push(target)
    else selection.set(part.host.name, [...(selection.get(part.host.name) ?? []), target])
  }
  if (unknown.length > 0) {
    const known = [...parts.map((p) => `@${p.host.name}`), ...parts.flatMap(knownAddresses)]
    throw new PlanError(
      unknown.map((t) => ({ address: t, message: `no such resource or host${didYouMean(t, known)}` })),
      'a target is an address like vm/web or network/lan@b, or a host like @b (see `kvmctl plan`)',
    )
  }
  for (const name of whole) selection.set(name, [])
  return selection
}

function knownAddresses(part: HostPart): Address[] {
  return [
    ...hostResources(part.topology).map((r) => r.address),
    ...Object.keys(part.snapshot?.resources ?? {}),
  ]
}

/**
 * What a host must have for its part: an underlay wide enough for each spanning network's MTU
 * (VXLAN takes 50 bytes), and ports only where the network has its address (its home host).
 */
function partProblems(part: HostPart): PlanProblem[] {
  const problems: PlanProblem[] = []
  for (const n of part.topology.networks) {
    if (!n.vxlan || part.underlayMtu === null) continue
    const mtu = n.mtu ?? 1500
    if (mtu + 50 > part.underlayMtu)
      problems.push({
        address: n.address,
        message: `mtu ${mtu} does not fit host ${part.host.name}'s underlay ${n.vxlan.dev} (MTU ${part.underlayMtu}) less VXLAN's 50 bytes: set mtu: ${part.underlayMtu - 50} or less on networks.${n.name}`,
      })
  }
  const home = new Set(part.topology.networks.filter((n) => n.home === part.host.name).map((n) => n.bridge))
  for (const vm of part.topology.vms) {
    for (const port of vm.ports)
      if (!home.has(port.bridge))
        problems.push({
          address: vm.address,
          message: `ports forward from the host that has the network's address, its home; vm/${vm.name} runs on ${part.host.name}: move it to the network's home host, or set the network's home: to ${part.host.name}`,
        })
  }
  return problems
}

/** A VM that leaves one host for another: made anew there, its disks with it, not their data. */
function moves(actions: readonly Action[]): string[] {
  const created = new Map(
    actions.filter((a) => a.type === 'vm' && a.action === 'create').map((a) => [a.address, a.host]),
  )
  return actions
    .filter((a) => a.type === 'vm' && a.action === 'delete' && created.has(a.address))
    .map(
      (a) =>
        `${a.address} moves from host ${a.host} to host ${created.get(a.address)}: it is made anew there with new disks; its disks on ${a.host} are deleted, not copied (copy what it keeps with \`kvmctl cp\` first).`,
    )
}

/** The key of an action in a plan across hosts: unique even when a VM moves (`vm/web@b`). */
export function stepKey(address: Address, host: string): string {
  return address.includes('@') ? address : `${address}@${host}`
}

/** The plan the executor runs: the same actions keyed by stepKey, dependencies too. */
export function executionPlan(plan: Plan): Plan {
  if (plan.format_version !== 2) throw new KvmctlError('not a plan across hosts')
  return {
    ...plan,
    actions: plan.actions.map((a) => ({
      ...a,
      address: stepKey(a.address, a.host!),
      depends_on: a.depends_on.map((d) => stepKey(d, a.host!)),
    })),
  }
}
