import { PlanError, type PlanProblem } from '../lib/errors.js'
import { parseSize } from '../lib/units.js'
import { compareAddresses, hostResources } from '../model/address.js'
import { nvramOf, vmFiles } from '../model/layout.js'
import type { HostSnapshot, ObservedResource } from '../model/snapshot.js'
import type { Address, Fields, FieldValue, Resource, Topology, Vm } from '../model/types.js'
import { capacityWarnings } from './capacity.js'
import { dependencyLevels, desiredUses } from './dependencies.js'
import { desiredFields, FIELD_EFFECTS } from './fields.js'
import { fingerprint, topologyHash } from './fingerprint.js'
import { selectTargets } from './targets.js'
import { ACTION_KINDS, type Action, type ActionKind, type Change, type Plan } from './types.js'

export interface PlanOptions {
  /** Limit the plan to these addresses and what they depend on (--target). */
  readonly targets?: readonly Address[]
  /** Plan the removal of everything the lab owns (destroy). */
  readonly destroy?: boolean
}

/**
 * The planner: what must happen for the host (snapshot) to match the topology. Pure: it
 * asks the host nothing, and the same inputs always give the same plan. Throws PlanError
 * when the plan would be unsafe (a name held by a stranger, a protected disk, a shrink).
 */
export function diff(topology: Topology, snapshot: HostSnapshot, options: PlanOptions = {}): Plan {
  const desired = new Map<Address, Resource>()
  if (!options.destroy) {
    for (const r of hostResources(topology)) desired.set(r.address, r)
  }
  const observed = new Map(Object.entries(snapshot.resources))
  const problems: PlanProblem[] = []
  if (!options.destroy) {
    for (const conflict of snapshot.conflicts) {
      if (!desired.has(conflict.address)) continue
      const holder = conflict.owner ? `belongs to ${conflict.owner}` : 'was not made by kvmctl'
      problems.push({
        address: conflict.address,
        message: `host ${conflict.kind} "${conflict.hostName}" already exists and ${holder}; kvmctl will not touch it (remove or rename it by hand if it is stale)`,
      })
    }
    problems.push(...snapshot.problems)
  }

  const actions = new Map<Address, Omit<Action, 'depends_on'>>()
  const addresses = [...new Set([...desired.keys(), ...observed.keys()])].sort(compareAddresses)
  for (const address of addresses) {
    const action = compare(desired.get(address) ?? null, observed.get(address) ?? null, problems)
    if (action) actions.set(address, action)
  }

  const dependsOn = new Map<Address, Address[]>()
  for (const [address, action] of actions) {
    const deps =
      action.action === 'delete'
        ? // Remove what uses it first: a bridge after its taps, a disk after its VM stopped.
          [...observed.values()]
            .filter((o) => o.uses.includes(address) && actions.has(o.address))
            .map((o) => o.address)
        : desiredUses(action.desired!, topology).filter(
            (u) => actions.has(u) && actions.get(u)!.action !== 'delete',
          )
    dependsOn.set(address, [...new Set(deps)].sort(compareAddresses))
  }

  let selected = [...actions.keys()]
  if (options.targets && options.targets.length > 0) {
    selected = selectTargets(options.targets, [...new Set([...desired.keys(), ...observed.keys()])], (a) =>
      desired.has(a) ? desiredUses(desired.get(a)!, topology) : [],
    ).filter((a) => actions.has(a))
  }
  for (const address of selected) {
    const action = actions.get(address)!
    if (action.desired?.type === 'disk' || action.current?.type === 'disk') checkDiskSafety(action, problems)
  }
  if (problems.length > 0) throw new PlanError(problems)

  const kept = new Set(selected)
  const keptDeps = new Map(selected.map((a) => [a, dependsOn.get(a)!.filter((d) => kept.has(d))]))
  const levels = dependencyLevels(keptDeps)
  const ordered = selected.sort((a, b) => levels.get(a)! - levels.get(b)! || compareAddresses(a, b))
  const finalActions: Action[] = ordered.map((address) => ({
    ...actions.get(address)!,
    depends_on: keptDeps.get(address)!,
  }))

  const summary = Object.fromEntries(ACTION_KINDS.map((k) => [k, 0])) as Record<ActionKind, number>
  for (const action of finalActions) summary[action.action]++
  return {
    format_version: 1,
    lab: topology.lab,
    observed: fingerprint(snapshot),
    topology: topologyHash(topology),
    actions: finalActions,
    summary,
    warnings: options.destroy ? [] : capacityWarnings(finalActions, snapshot.capacity),
    notes: [
      ...(snapshot.notes ?? []).map((n) => `${n.address}: ${n.message}`),
      ...(options.destroy ? [] : planNotes(topology, snapshot, finalActions)),
    ],
    lab_dir: topology.labDir,
    destroy: options.destroy === true,
    targets: options.targets ?? [],
  }
}

/** What the plan should say besides its actions: downloads, copies, cloud-init runs, host settings. */
function planNotes(topology: Topology, snapshot: HostSnapshot, actions: readonly Action[]): string[] {
  const notes: string[] = []
  for (const name of snapshot.downloads ?? []) {
    const image = topology.images[name]!
    notes.push(
      `image/${name} is downloaded first from ${image.url} into the image cache, and used only if its ${image.digest?.replace(':', ' is ')}${image.checksums ? ` (from ${image.checksums})` : ''}.`,
    )
  }
  for (const path of snapshot.puts ?? []) {
    const put = topology.puts?.find((p) => p.path === path)
    if (put)
      notes.push(
        `${put.what} ${put.source} (${(put.bytes / 1024 ** 2).toFixed(1)} MiB) is copied first from this machine into the host's image cache, as ${path}.`,
      )
  }
  for (const action of actions) {
    const vm = action.type === 'vm' && action.desired?.type === 'vm' ? action.desired : null
    if (vm) notes.push(...firmwareNotes(action, vm))
    const bridge = action.desired?.type === 'network' ? action.desired : null
    if (bridge?.groupFwdMask && action.changes.some((c) => c.field === 'l2_protocols'))
      notes.push(
        `${action.address}: l2_protocols: pass forwards LLDP, 802.1X and the other link-local groups 01:80:c2:00:00:03-0f; STP BPDUs and 802.1Q-tagged frames pass every kvmctl bridge (no STP, no VLAN filtering of its own). LACP and PAUSE (:02, :01) cannot pass a Linux bridge: use type: p2p.`,
      )
    const tap = action.desired?.type === 'tap' ? action.desired : null
    if (tap?.peer && action.changes.some((c) => c.field === 'peer')) {
      const [first, second] = [tap.address, tap.peer.address].sort()
      const note = `network/${tap.network}: a p2p wire between ${first} and ${second}: each tap's ingress is redirected to the other (tc mirred), every frame passes unchanged.`
      if (!notes.includes(note)) notes.push(note)
    }
    if (
      action.type === 'vm' &&
      action.action !== 'create' &&
      action.changes.some((c) => c.field === 'cloud_init')
    )
      notes.push(
        `${action.address}: cloud-init runs again in the guest on this restart (the seed's instance-id follows its content).`,
      )
  }
  for (const action of actions) {
    const network = action.desired?.type === 'network' ? action.desired : null
    if (
      !network?.nat ||
      !network.dhcp ||
      !action.changes.some((c) => c.field === 'dns' || c.field === 'dhcp')
    )
      continue
    const resolvers = snapshot.resolvers
    notes.push(
      resolvers && resolvers.servers.length > 0
        ? `${action.address}: DNS answers the lab's names (VM, VM.${network.domain}) and forwards other names to ${resolvers.servers.join(', ')} (from ${resolvers.source}).`
        : `${action.address}: DNS answers the lab's names only: this host names no resolver${resolvers ? ` in ${resolvers.source}` : ''} to forward other names to.`,
    )
  }
  if (actions.some((a) => a.changes.some((c) => c.field === 'nat' && c.after === true)))
    notes.push('NAT turns on IPv4 forwarding on this host (net.ipv4.ip_forward=1), and leaves it on.')
  const forwards = (a: Action) =>
    a.changes.some((c) => c.field === 'ports' && Array.isArray(c.after) && c.after.length > 0)
  if (actions.some(forwards))
    notes.push(
      "Port forwards turn on IPv4 forwarding on this host (net.ipv4.ip_forward=1), and leave it on; one from a loopback address sets route_localnet on its network's bridge only.",
    )
  const nat6 = (a: Action) =>
    a.desired?.type === 'network' &&
    a.desired.nat &&
    a.desired.cidr6 !== null &&
    a.changes.some((c) => c.field === 'nat' || c.field === 'cidr6')
  if (actions.some(nat6))
    notes.push(
      "NAT on a network with cidr6 turns on IPv6 forwarding on this host (net.ipv6.conf.all.forwarding=1), and leaves it on; the host's own interfaces then ignore router advertisements unless their accept_ra is 2.",
    )
  return notes
}

function compare(
  desired: Resource | null,
  current: ObservedResource | null,
  problems: PlanProblem[],
): Omit<Action, 'depends_on'> | null {
  const resource = (desired ?? current)!
  const base = { address: resource.address, type: resource.type, name: resource.name, desired, current }
  if (desired && !current) {
    const changes = Object.entries(desiredFields(desired))
      .filter(
        ([, value]) => value !== null && value !== false && !(Array.isArray(value) && value.length === 0),
      )
      .map(([field, after]): Change => ({ field, before: null, after, effect: 'create' }))
    return { ...base, action: 'create', changes, destroys_data: false }
  }
  if (!desired && current) {
    return { ...base, action: 'delete', changes: [], destroys_data: current.type === 'disk' }
  }
  const wanted: Fields = desiredFields(desired!)
  const found: Fields = current!.fields
  const effects = FIELD_EFFECTS[desired!.type]
  const changes: Change[] = []
  for (const [field, effect] of Object.entries(effects)) {
    const after = wanted[field] ?? null
    const before = found[field] ?? null
    if (field === 'size' && after === null) continue
    if (sameValue(before, after)) continue
    if (
      field === 'size' &&
      before !== null &&
      parseSize(after) !== null &&
      parseSize(after)! < (parseSize(before) ?? 0)
    ) {
      problems.push({
        address: desired!.address,
        message: `shrinking a disk is refused (size ${before} → ${after}): it would cut off data; keep the size, or delete the disk`,
      })
    }
    changes.push({ field, before, after, effect })
  }
  if (changes.length === 0) return null
  const action: ActionKind = changes.some((c) => c.effect === 'replace')
    ? 'replace'
    : changes.some((c) => c.effect === 'restart')
      ? 'restart'
      : 'update'
  const destroysData =
    desired!.type === 'disk' ? action === 'replace' : desired!.type === 'vm' && dropsVmState(found, wanted)
  return { ...base, action, changes, destroys_data: destroysData }
}

/** A restart that discards what the guest kept in its NVRAM (another template, or bios) or its TPM. */
function dropsVmState(found: Fields, wanted: Fields): boolean {
  const nvramGoes =
    found.firmware === 'uefi' && (wanted.firmware !== 'uefi' || found.secure_boot !== wanted.secure_boot)
  return nvramGoes || (found.tpm === true && wanted.tpm === false)
}

function checkDiskSafety(action: Omit<Action, 'depends_on'>, problems: PlanProblem[]) {
  if (action.action !== 'delete' && action.action !== 'replace') return
  const desiredProtect = action.desired?.type === 'disk' && action.desired.protect
  if (desiredProtect || action.current?.protect) {
    problems.push({
      address: action.address,
      message: `is protected (protect: true) and this plan would ${action.action} it, destroying its data; set protect: false and apply first if that is really meant`,
    })
  }
}

function sameValue(a: FieldValue, b: FieldValue): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i])
  return a === b
}

/**
 * What a VM's firmware and TPM keep: its NVRAM and TPM state are files of its own, kept across
 * restarts; a restart that changes their kind (bios, Secure Boot's keys, no TPM) drops them.
 */
function firmwareNotes(action: Action, vm: Vm): string[] {
  const notes: string[] = []
  const changed = (field: string) => action.changes.find((c) => c.field === field)
  const before = (field: 'firmware' | 'secure_boot' | 'tpm') =>
    changed(field)?.before ?? (action.current?.type === 'vm' ? action.current.fields[field] : null)
  const nvram = nvramOf(vm)
  const nvramChanged = changed('firmware') || changed('secure_boot')
  if (nvram && (action.action === 'create' || nvramChanged))
    notes.push(
      `${action.address}: UEFI (the host's OVMF${vm.secureBoot ? ", Secure Boot with Microsoft's keys enrolled" : ''}) on machine ${vm.machine}, with an NVRAM of its own (${nvram}), kept across restarts and removed with the VM.`,
    )
  if (action.action !== 'create' && nvramChanged && before('firmware') === 'uefi') {
    const old = nvramOf({ runDir: vm.runDir, firmware: 'uefi', secureBoot: before('secure_boot') === true })
    if (old !== nvram)
      notes.push(
        `${action.address}: its NVRAM (${old}) is removed on this restart, and the variables the guest wrote there with it: ${nvram ? 'the new one starts from the template' : 'bios needs none'}.`,
      )
  }
  const { tpmState } = vmFiles(vm.runDir)
  if (vm.tpm && (action.action === 'create' || changed('tpm')))
    notes.push(
      `${action.address}: a TPM 2.0 through swtpm, started and stopped with the VM; its state (${tpmState}) is kept across restarts and removed with the VM.`,
    )
  if (!vm.tpm && action.action !== 'create' && before('tpm') === true)
    notes.push(
      `${action.address}: its TPM state (${tpmState}) is removed on this restart, and what the guest kept in it.`,
    )
  return notes
}
