import { mkdir, readFile } from 'node:fs/promises'
import { DEFAULTS } from '../config/resolve.js'
import { removeDhcp, startDhcp } from '../host/dhcp-ops.js'
import { createDisk, deleteDisk, growDisk, recordDisk } from '../host/disk-ops.js'
import { syncFirewall } from '../host/firewall-ops.js'
import {
  attachTap,
  createBridge,
  createTap,
  deleteLink,
  setBridgeAddress,
  setBridgeL2Protocols,
  setBridgeMtu,
} from '../host/network-ops.js'
import type { Drive, HostCapabilities } from '../host/qemu-argv.js'
import { buildSeed } from '../host/seed-ops.js'
import { shapeTap } from '../host/shaping-ops.js'
import { removeVmKeys } from '../host/ssh-keys.js'
import { explainFsError, type VmRecord, writeJson } from '../host/state.js'
import {
  pauseVm,
  prepareFirmware,
  removeVmFiles,
  resumeVm,
  setLinks,
  startVm,
  stopVm,
} from '../host/vm-ops.js'
import { createVxlan, syncFdb } from '../host/vxlan-ops.js'
import { unwireTap, wireTaps } from '../host/wire-ops.js'
import { KvmctlError } from '../lib/errors.js'
import { vmFiles } from '../model/layout.js'
import type { HostSnapshot, Observed } from '../model/snapshot.js'
import type { Disk, Network, ResourceType, Tap, Topology, Vm } from '../model/types.js'
import { desiredUses } from '../plan/dependencies.js'
import { desiredFields } from '../plan/fields.js'
import type { Action, ActionKind, Plan } from '../plan/types.js'
import type { StepRunner } from './executor.js'

export interface HostContext {
  readonly topology: Topology
  readonly plan: Plan
  readonly snapshot: HostSnapshot
  readonly caps: HostCapabilities
}

type Step = (action: Action, ctx: HostContext) => Promise<void>

/** What each action does on a real host, by resource type: registration, not a switch. */
const STEPS: Readonly<Record<ResourceType, Partial<Record<ActionKind, Step>>>> = {
  network: {
    create: async (a, ctx) => {
      const network = a.desired as Network
      await createBridge(ctx.topology, network)
      if (network.vxlan) await createVxlan(ctx.topology, network)
      if (network.dhcp) await startDhcp(ctx.topology.lab, ctx.topology.labDir, network)
      await syncFirewall(ctx.topology.lab, firewallNetworks(ctx), firewallVms(ctx))
    },
    update: async (a, ctx) => {
      const network = a.desired as Network
      const changed = new Set(a.changes.map((c) => c.field))
      if (changed.has('mtu')) await setBridgeMtu(network)
      if (changed.has('l2_protocols')) await setBridgeL2Protocols(network)
      if (changed.has('cidr') || changed.has('cidr6')) await setBridgeAddress(network)
      if (changed.has('vxlan')) {
        if (network.vxlan) await createVxlan(ctx.topology, network)
        else await deleteLink(String(a.current!.handle.vxlan))
      } else if (changed.has('vxlan_fdb'))
        await syncFdb(network, (a.current as Observed<'network'>).fields.vxlan_fdb ?? [])
      if (['nat', 'isolated', 'cidr', 'cidr6', 'vxlan'].some((f) => changed.has(f))) {
        await syncFirewall(ctx.topology.lab, firewallNetworks(ctx), firewallVms(ctx))
      }
      // dnsmasq's configuration follows the cidr, the reservations, NAT (router, DNS) and the MTU.
      if (['dhcp', 'dhcp_hosts', 'dns', 'cidr', 'cidr6', 'nat', 'mtu'].some((f) => changed.has(f))) {
        if (network.dhcp) await startDhcp(ctx.topology.lab, ctx.topology.labDir, network)
        else await removeDhcp(ctx.topology.labDir, network.name)
      }
    },
    delete: async (a, ctx) => {
      await removeDhcp(ctx.topology.labDir, a.name)
      if (a.current!.handle.vxlan) await deleteLink(String(a.current!.handle.vxlan))
      // Independent: the table is rewritten without the network while its bridge goes.
      await Promise.all([
        syncFirewall(ctx.topology.lab, firewallNetworks(ctx), firewallVms(ctx)),
        deleteLink(String(a.current!.handle.bridge)),
      ])
    },
  },
  tap: {
    create: async (a, ctx) => {
      const tap = a.desired as Tap
      await createTap(ctx.topology, tap)
      if (tap.rate || tap.netem) await shapeTap(tap)
      await wire(tap, ctx)
    },
    update: async (a, ctx) => {
      const tap = a.desired as Tap
      await attachTap(tap)
      if (a.changes.some((c) => c.field === 'rate' || c.field === 'netem')) await shapeTap(tap)
      if (tap.peer) await wire(tap, ctx)
      else if (a.changes.some((c) => c.field === 'peer')) await unwireTap(tap.device)
    },
    delete: (a) => deleteLink(String(a.current!.handle.device)),
  },
  disk: {
    create: (a, ctx) => createDisk(ctx.topology.labDir, a.desired as Disk),
    update: async (a, ctx) => {
      const disk = a.desired as Disk
      if (a.changes.some((c) => c.field === 'size')) await growDisk(disk, diskHolder(disk, ctx))
      await recordDisk(ctx.topology.labDir, disk)
    },
    replace: async (a, ctx) => {
      await deleteDisk(ctx.topology.labDir, a.name, String(a.current!.handle.format))
      await createDisk(ctx.topology.labDir, a.desired as Disk)
    },
    delete: (a, ctx) => deleteDisk(ctx.topology.labDir, a.name, String(a.current!.handle.format)),
  },
  vm: {
    create: withPorts((a, ctx) => startOrRecord(a.desired as Vm, ctx)),
    restart: withPorts(restartVm),
    replace: withPorts(restartVm),
    update: withPorts(updateVm),
    delete: async (a, ctx) => {
      await syncPorts(a, ctx)
      const runDir = String(a.current!.handle.runDir)
      // Nothing to flush when all its disks go too (destroy): stop at once.
      const graceful = losesAllDisks(a, ctx.plan) ? 'kill' : shutdownTimeout(a, ctx)
      const pid = a.current!.handle.pid
      await stopVm(runDir, graceful, typeof pid === 'number' ? pid : null)
      await removeVmFiles(runDir)
      await removeVmKeys(ctx.topology.lab, ctx.topology.labDir, a.name)
    },
  },
}

export function hostStepRunner(ctx: HostContext): StepRunner {
  return async (action) => {
    const step =
      STEPS[action.type][action.action] ?? (action.action === 'replace' ? replaceByDeleteCreate : undefined)
    if (!step) throw new KvmctlError(`${action.address}: kvmctl cannot ${action.action} a ${action.type}`)
    await step(action, ctx).catch((error) => {
      throw explainFsError(error)
    })
  }
}

async function replaceByDeleteCreate(action: Action, ctx: HostContext): Promise<void> {
  const steps = STEPS[action.type]
  await steps.delete!({ ...action, action: 'delete' }, ctx)
  await steps.create!({ ...action, action: 'create', current: null }, ctx)
}

async function vmRecord(vm: Vm, ctx: Pick<HostContext, 'topology'>): Promise<VmRecord> {
  const { state, ...fields } = desiredFields(vm)
  const taps = await Promise.all(
    vm.nics.map(async (nic) => ({
      device: nic.device,
      ifindex: Number(
        (await readFile(`/sys/class/net/${nic.device}/ifindex`, 'utf8').catch(() => '0')).trim(),
      ),
    })),
  )
  return {
    address: vm.address,
    fields,
    state: String(state),
    uses: desiredUses(vm, ctx.topology),
    taps,
    shutdownTimeoutSeconds: vm.shutdownTimeoutSeconds,
  }
}

/**
 * A p2p tap's wire, both ways, once both ends exist: the end made second in this apply (its
 * step waits for the first's) wires both; an end made again next to an existing one, too.
 */
async function wire(tap: Tap, ctx: HostContext): Promise<void> {
  if (!tap.peer) return
  const peerAction = ctx.plan.actions.find((x) => x.address === tap.peer!.address)
  const peerExists = peerAction
    ? peerAction.action === 'create'
      ? tap.peer.address < tap.address
      : peerAction.action !== 'delete'
    : tap.peer.address in ctx.snapshot.resources
  if (!peerExists) return
  await wireTaps([
    { from: tap.device, to: tap.peer.device },
    { from: tap.peer.device, to: tap.device },
  ])
}

/**
 * The VM's disks in order, boot disk first, as QEMU block nodes disk0, disk1, ..., then its
 * cloud-init seed, last, so that adding one never renames the guest's data disks.
 */
export function drivesOf(vm: Vm, topology: Topology): Drive[] {
  const drives: Drive[] = [vm.bootDisk, ...vm.disks].map((address, index) => {
    const disk = topology.disks.find((d) => d.address === address)!
    return { path: disk.path, format: disk.format, node: `disk${index}` }
  })
  if (vm.cloudInit)
    drives.push({ path: vmFiles(vm.runDir).seed, format: 'raw', node: 'seed', readOnly: true })
  return drives
}

/**
 * Starts the VM's QEMU, its cloud-init seed built first (anew: its content may have changed).
 * `paused`: QEMU starts with its CPUs stopped whatever the VM's state (a restore loads a saved
 * state into it first).
 */
async function launch(
  vm: Vm,
  ctx: Pick<HostContext, 'topology' | 'caps'>,
  record: VmRecord,
  paused = false,
): Promise<void> {
  await mkdir(vm.runDir, { recursive: true, mode: 0o700 })
  if (vm.cloudInit) await buildSeed(ctx.topology.lab, ctx.topology.labDir, vm)
  await prepareFirmware(vm)
  const started = paused ? { ...vm, state: 'paused' as const } : vm
  await startVm(ctx.topology.lab, started, drivesOf(vm, ctx.topology), ctx.caps, record)
  // QEMU starts every NIC up; the ones the topology wants down are cut before the guest uses them.
  const down = vm.nics.flatMap((nic, index) => (nic.link === 'down' ? [{ index, up: false }] : []))
  if (down.length > 0) await setLinks(vm.runDir, down)
}

/** Starts a VM outside an apply, as the topology has it (snapshot restore); `paused`: see launch. */
export async function startVmAsConfigured(
  vm: Vm,
  topology: Topology,
  caps: HostCapabilities,
  paused: boolean,
): Promise<void> {
  const ctx = { topology, caps }
  await launch(vm, ctx, await vmRecord(vm, ctx), paused)
}

async function startOrRecord(vm: Vm, ctx: HostContext): Promise<void> {
  const record = await vmRecord(vm, ctx)
  if (vm.state === 'stopped') {
    await mkdir(vm.runDir, { recursive: true, mode: 0o700 })
    await writeJson(vmFiles(vm.runDir).spec, record)
    return
  }
  await launch(vm, ctx, record)
}

async function restartVm(action: Action, ctx: HostContext): Promise<void> {
  const vm = action.desired as Vm
  await stopVm(vm.runDir, shutdownTimeout(action, ctx))
  await startOrRecord(vm, ctx)
}

async function updateVm(action: Action, ctx: HostContext): Promise<void> {
  const vm = action.desired as Vm
  const before = (action.current as Observed<'vm'>).fields.state
  const after = vm.state
  if (before !== after) {
    if (after === 'stopped') await stopVm(vm.runDir, shutdownTimeout(action, ctx))
    else if (before === 'stopped' || before === 'unresponsive') {
      await stopVm(vm.runDir, 'kill')
      await launch(vm, ctx, await vmRecord(vm, ctx))
      return
    } else if (after === 'paused') await pauseVm(vm.runDir)
    else await resumeVm(vm.runDir)
  }
  // A stopped VM's links are set when it starts.
  const links = action.changes.find((c) => c.field === 'links')
  if (links && after !== 'stopped') {
    const wasDown = new Set((links.before ?? []) as readonly string[])
    const changed = vm.nics.flatMap((nic, index) =>
      wasDown.has(`${nic.name} down`) === (nic.link === 'down') ? [] : [{ index, up: nic.link === 'up' }],
    )
    await setLinks(vm.runDir, changed)
  }
  await writeJson(vmFiles(vm.runDir).spec, await vmRecord(vm, ctx))
}

/** The networks the lab's firewall is for: none once the whole lab goes. */
function firewallNetworks(ctx: HostContext): readonly Network[] {
  return ctx.plan.destroy ? [] : ctx.topology.networks
}

/** The VMs whose ports the lab's firewall forwards. */
function firewallVms(ctx: HostContext): readonly Vm[] {
  return ctx.plan.destroy ? [] : ctx.topology.vms
}

/** A VM step, then its forwards: they point at the guest once it is there. */
function withPorts(step: Step): Step {
  return async (action, ctx) => {
    await step(action, ctx)
    await syncPorts(action, ctx)
  }
}

/** A VM's forwards change with its step: the table is written again when they differ. */
async function syncPorts(action: Action, ctx: HostContext): Promise<void> {
  const before = (action.current?.fields as { ports?: readonly string[] } | undefined)?.ports ?? []
  const after = action.action === 'delete' ? [] : (action.desired as Vm).ports
  if (before.length === 0 && after.length === 0) return
  if (action.action !== 'delete' && action.current && !action.changes.some((c) => c.field === 'ports')) return
  await syncFirewall(ctx.topology.lab, firewallNetworks(ctx), firewallVms(ctx))
}

/**
 * How long the guest may take to shut down: the VM's shutdown_timeout in the topology (a VM that
 * leaves the file, or goes with destroy, keeps the one it was started with).
 */
function shutdownTimeout(action: Action, ctx: HostContext): number {
  const vm = ctx.topology.vms.find((v) => v.name === action.name)
  const recorded = Number(action.current?.handle.shutdownTimeout)
  return (
    vm?.shutdownTimeoutSeconds ??
    (Number.isFinite(recorded) && recorded >= 0 ? recorded : DEFAULTS.shutdownTimeout)
  )
}

function losesAllDisks(action: Action, plan: Plan): boolean {
  const deleted = new Set(plan.actions.filter((a) => a.action === 'delete').map((a) => a.address))
  return action.current!.uses.filter((u) => u.startsWith('disk/')).every((u) => deleted.has(u))
}

/** A running VM that has this disk open: growing it then goes through QMP. */
function diskHolder(disk: Disk, ctx: HostContext): { qmp: string; node: string } | null {
  for (const vm of ctx.topology.vms) {
    const index = [vm.bootDisk, ...vm.disks].indexOf(disk.address)
    if (index < 0) continue
    const observed = ctx.snapshot.resources[vm.address]
    if (observed && observed.handle.pid !== null && observed.handle.pid !== undefined) {
      return { qmp: vmFiles(vm.runDir).qmp, node: `disk${index}` }
    }
  }
  return null
}
