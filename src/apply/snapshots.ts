import { existsSync } from 'node:fs'
import { probeCapabilities } from '../host/accel.js'
import { lockLab } from '../host/lock.js'
import type { HostCapabilities } from '../host/qemu-argv.js'
import { qemuArgv } from '../host/qemu-argv.js'
import { qmpCommand } from '../host/qmp.js'
import {
  blockNodes,
  deleteFromClosedDisk,
  deleteFromOpenDisk,
  diskHasTag,
  loadVmState,
  readSnapshots,
  removeSnapshotRecord,
  revertClosedDisk,
  runningQemu,
  saveVmState,
  snapshotClosedDisk,
  snapshotOpenDisks,
  writeSnapshotRecord,
} from '../host/snapshot-ops.js'
import { makeDirectory } from '../host/state.js'
import { pauseVm, resumeVm, stopVm } from '../host/vm-ops.js'
import { KvmctlError } from '../lib/errors.js'
import { didYouMean } from '../lib/suggest.js'
import { parseAddress } from '../model/address.js'
import { diskFiles, snapshotFiles, snapshotTag, vmDir, vmFiles } from '../model/layout.js'
import { type SavedVm, SNAPSHOT_NAME, type SnapshotRecord } from '../model/saved-state.js'
import type { Topology, Vm } from '../model/types.js'
import { planRestore, type RestorePlan, type RestoreStep } from '../plan/restore.js'
import { drivesOf, startVmAsConfigured } from './host-steps.js'

/**
 * `kvmctl snapshot`: save, restore, list and delete a lab's snapshots. Each holds the lab's lock,
 * as apply does: a snapshot is never taken of a lab half made.
 */

export interface SnapshotOptions {
  readonly targets: readonly string[]
  readonly lockTimeout: number
}

async function withLock<T>(topology: Topology, options: SnapshotOptions, work: () => Promise<T>): Promise<T> {
  const lock = await lockLab(topology.lab, options.lockTimeout)
  try {
    return await work()
  } finally {
    await lock.release()
  }
}

/** The VMs named by --target (vm/NAME), or all of the topology's. */
function targetVms(topology: Topology, targets: readonly string[]): Vm[] {
  if (targets.length === 0) return [...topology.vms]
  return targets.map((target) => {
    const address = parseAddress(target)
    const vm = address?.type === 'vm' ? topology.vms.find((v) => v.name === address.name) : undefined
    if (!vm)
      throw new KvmctlError(
        `lab "${topology.lab}" has no ${target}${didYouMean(
          target,
          topology.vms.map((v) => v.address),
        )}`,
        "a snapshot's targets are VMs: --target vm/NAME",
      )
    return vm
  })
}

/** A disk's file, by name: the topology's, else where the layout puts a qcow2 disk of that name. */
function diskPath(topology: Topology, name: string): string {
  return topology.disks.find((d) => d.name === name)?.path ?? diskFiles(topology.labDir, name, 'qcow2').image
}

export function checkSnapshotName(name: string): void {
  if (!SNAPSHOT_NAME.test(name))
    throw new KvmctlError(
      `"${name}" is not a snapshot name`,
      'use lower-case letters, digits, ".", "_" and "-", starting with a letter or digit (at most 63)',
    )
}

function findRecord(topology: Topology, name: string): SnapshotRecord {
  checkSnapshotName(name)
  const { records } = readSnapshots(topology.labDir)
  const record = records.find((r) => r.name === name)
  if (record) return record
  throw new KvmctlError(
    `lab "${topology.lab}" has no snapshot "${name}"${didYouMean(
      name,
      records.map((r) => r.name),
    )}`,
    records.length > 0
      ? `its snapshots: ${records.map((r) => r.name).join(', ')}`
      : 'make one with `kvmctl snapshot save NAME`',
  )
}

interface Capture {
  readonly vm: Vm
  readonly saved: SavedVm
  /** Block nodes that take the snapshot, boot disk first. */
  readonly nodes: readonly string[]
}

/** What a save takes of each VM: from its running QEMU's command line, or the topology when it is stopped. */
async function captureOf(topology: Topology, vm: Vm, diskOnly: boolean): Promise<Capture> {
  const qemu = runningQemu(vm.runDir)
  if (!qemu) {
    const disks = drivesOf(vm, topology).filter((d) => !d.readOnly)
    for (const d of disks) {
      if (!existsSync(d.path))
        throw new KvmctlError(`vm/${vm.name}: its disk ${d.path} does not exist`, 'run `kvmctl apply` first')
    }
    return {
      vm,
      nodes: disks.map((d) => d.node),
      saved: {
        state: 'stopped',
        memory: false,
        diskOnlyBecause: 'it was stopped',
        argv: null,
        disks: disks.map((d) => ({ name: diskNameOf(topology, d.path, vm), node: d.node })),
      },
    }
  }
  const writable = blockNodes(qemu.argv).filter((n) => !n.readOnly)
  const raw = writable.find((n) => n.format !== 'qcow2')
  if (raw)
    throw new KvmctlError(
      `vm/${vm.name}: ${raw.path} is ${raw.format}; snapshots live inside qcow2 disks`,
      `leave vm/${vm.name} out with --target, or give its disks format: qcow2`,
    )
  const status = await qmpCommand<{ running: boolean }>(vmFiles(vm.runDir).qmp, 'query-status')
  // QEMU's 9p file system cannot be migrated, so its memory cannot be saved either.
  const sharesFolders = qemu.argv.includes('-fsdev')
  const diskOnlyBecause = diskOnly ? 'asked for' : sharesFolders ? 'it shares host folders (mounts:)' : null
  return {
    vm,
    nodes: writable.map((n) => n.node),
    saved: {
      state: status.running ? 'running' : 'paused',
      memory: diskOnlyBecause === null,
      diskOnlyBecause,
      argv: qemu.argv,
      disks: writable.map((n) => ({ name: diskNameOf(topology, n.path, vm), node: n.node })),
    },
  }
}

function diskNameOf(topology: Topology, path: string, vm: Vm): string {
  const disk = topology.disks.find((d) => d.path === path)
  if (disk) return disk.name
  throw new KvmctlError(
    `vm/${vm.name} runs with ${path}, which its topology no longer has`,
    'run `kvmctl apply` first, so that the lab is as the topology says',
  )
}

export interface SaveResult {
  readonly record: SnapshotRecord
  readonly pausedSeconds: number
  readonly seconds: number
}

/**
 * Saves every targeted VM at the same moment: all paused together, each saved (memory, devices
 * and disks, or disks only), then all resumed, also when a save failed. A failed save leaves no
 * half snapshot: what it wrote is removed again.
 */
export async function saveSnapshot(
  topology: Topology,
  name: string,
  options: SnapshotOptions & { readonly diskOnly: boolean },
): Promise<SaveResult> {
  checkSnapshotName(name)
  return withLock(topology, options, async () => {
    const started = Date.now()
    if (readSnapshots(topology.labDir).records.some((r) => r.name === name))
      throw new KvmctlError(
        `lab "${topology.lab}" already has a snapshot "${name}"`,
        `delete it first (\`kvmctl snapshot delete ${name}\`) or choose another name`,
      )
    const captures = await Promise.all(
      targetVms(topology, options.targets).map((vm) => captureOf(topology, vm, options.diskOnly)),
    )
    const tag = snapshotTag(name)
    const live = captures.filter((c) => c.saved.state !== 'stopped')
    const pausedAt = Date.now()
    let pausedSeconds = 0
    try {
      await Promise.all(live.map((c) => pauseVm(c.vm.runDir)))
      await Promise.all(
        captures.map(async (c) => {
          if (c.saved.memory) await saveVmState(c.vm.runDir, tag, c.nodes)
          else if (c.saved.state !== 'stopped') await snapshotOpenDisks(c.vm.runDir, tag, c.nodes)
          else for (const d of c.saved.disks) await snapshotClosedDisk(diskPath(topology, d.name), tag)
        }),
      )
    } catch (error) {
      await Promise.allSettled(captures.map((c) => dropFromVm(topology, c.vm, c.saved, tag)))
      throw error
    } finally {
      await Promise.allSettled(
        live.filter((c) => c.saved.state === 'running').map((c) => resumeVm(c.vm.runDir)),
      )
      pausedSeconds = (Date.now() - pausedAt) / 1000
    }
    const record: SnapshotRecord = {
      name,
      lab: topology.lab,
      created: new Date().toISOString(),
      vms: Object.fromEntries(captures.map((c) => [c.vm.name, c.saved])),
    }
    await makeDirectory(snapshotFiles(topology.labDir).dir)
    await writeSnapshotRecord(topology.labDir, record)
    return { record, pausedSeconds, seconds: (Date.now() - started) / 1000 }
  })
}

/** Removes a snapshot's tag from one VM's disks: through its QEMU when it has them open. */
async function dropFromVm(topology: Topology, vm: Pick<Vm, 'name'>, saved: SavedVm, tag: string) {
  const runDir = vmDir(topology.labDir, vm.name)
  const qemu = runningQemu(runDir)
  const open = qemu ? blockNodes(qemu.argv) : []
  for (const disk of saved.disks) {
    const path = diskPath(topology, disk.name)
    if (!diskHasTag(path, tag)) continue
    const node = open.find((n) => n.path === path)?.node
    if (node) await deleteFromOpenDisk(runDir, node, tag)
    else await deleteFromClosedDisk(path, tag)
  }
}

/** The restore of a snapshot as it would be now: shown to the user before anything changes. */
function restorePlan(
  topology: Topology,
  record: SnapshotRecord,
  targets: readonly string[],
  caps: HostCapabilities,
): RestorePlan {
  const tag = snapshotTag(record.name)
  return planRestore({
    record,
    topology,
    targets,
    runningArgv: (vm) => runningQemu(vmDir(topology.labDir, vm))?.argv ?? null,
    desiredArgv: (vm) => qemuArgv(topology.lab, vm, drivesOf(vm, topology), caps),
    diskHasSnapshot: (disk) => diskHasTag(diskPath(topology, disk), tag),
  })
}

/**
 * Restores a snapshot as planned, all VMs at once, in three phases so that they come back at the
 * same moment: stop (pause the ones whose QEMU stays, end the others: their state is replaced),
 * roll back (memory into a paused QEMU, or disks alone), then resume or start.
 */
export async function restoreSnapshot(
  topology: Topology,
  options: SnapshotOptions & {
    readonly name: string
    readonly confirm: (plan: RestorePlan) => Promise<void>
  },
): Promise<{ plan: RestorePlan; seconds: number }> {
  return withLock(topology, options, async () => {
    const caps = await probeCapabilities()
    const record = findRecord(topology, options.name)
    const plan = restorePlan(topology, record, options.targets, caps)
    if (plan.steps.length === 0)
      throw new KvmctlError(`nothing of snapshot "${options.name}" can be restored`, 'see why above')
    missingTaps(topology, plan.steps)
    await options.confirm(plan)
    const started = Date.now()
    const tag = snapshotTag(options.name)
    const vmOf = (step: RestoreStep) => topology.vms.find((v) => v.name === step.vm)!
    await Promise.all(
      plan.steps.map((step) =>
        step.memory && !step.restart ? pauseVm(vmOf(step).runDir) : stopVm(vmOf(step).runDir, 'kill'),
      ),
    )
    await Promise.all(
      plan.steps.map(async (step) => {
        const vm = vmOf(step)
        if (!step.memory) {
          await Promise.all(step.disks.map((d) => revertClosedDisk(diskPath(topology, d), tag)))
          return
        }
        if (step.restart) await startVmAsConfigured(vm, topology, caps, true)
        await loadVmState(
          vm.runDir,
          tag,
          record.vms[step.vm]!.disks.map((d) => d.node),
        )
      }),
    )
    await Promise.all(
      plan.steps.map(async (step) => {
        const vm = vmOf(step)
        if (step.memory) {
          if (step.resume) await resumeVm(vm.runDir)
        } else if (vm.state !== 'stopped') await startVmAsConfigured(vm, topology, caps, false)
      }),
    )
    return { plan, seconds: (Date.now() - started) / 1000 }
  })
}

/** A VM restarted needs its taps: a restore brings back VMs and disks, not the lab's networks. */
function missingTaps(topology: Topology, steps: readonly RestoreStep[]): void {
  const missing = steps
    .filter((s) => s.restart)
    .flatMap((s) => topology.vms.find((v) => v.name === s.vm)!.nics)
    .filter((nic) => !existsSync(`/sys/class/net/${nic.device}`))
  if (missing.length > 0)
    throw new KvmctlError(
      `the lab's networks are not all there (${missing.map((n) => n.tap).join(', ')} missing); nothing was changed`,
      'run `kvmctl apply` first: a restore rolls back VMs and disks, it does not make the lab',
    )
}

/** Removes a snapshot (or, with targets, its part of some VMs) from the disks, then its record. */
export async function deleteSnapshot(
  topology: Topology,
  name: string,
  options: SnapshotOptions,
): Promise<SnapshotRecord> {
  return withLock(topology, options, async () => {
    const record = findRecord(topology, name)
    const names =
      options.targets.length === 0
        ? Object.keys(record.vms)
        : targetVms(topology, options.targets).map((v) => v.name)
    for (const vm of names) {
      if (!record.vms[vm]) throw new KvmctlError(`snapshot "${name}" has no vm/${vm}`)
    }
    const tag = snapshotTag(name)
    await Promise.all(names.map((vm) => dropFromVm(topology, { name: vm }, record.vms[vm]!, tag)))
    const left = Object.fromEntries(Object.entries(record.vms).filter(([vm]) => !names.includes(vm)))
    if (Object.keys(left).length === 0) await removeSnapshotRecord(topology.labDir, name)
    else await writeSnapshotRecord(topology.labDir, { ...record, vms: left })
    return record
  })
}

export interface SnapshotListing {
  readonly name: string
  readonly created: string
  readonly vms: readonly {
    readonly vm: string
    readonly state: string
    readonly memory: boolean
    readonly disks: readonly string[]
    /** Every disk still holds its part. */
    readonly complete: boolean
  }[]
}

/** The lab's snapshots, each VM's part checked against its disks (their snapshot tables). */
export function listSnapshots(topology: Topology): { snapshots: SnapshotListing[]; damaged: string[] } {
  const { records, damaged } = readSnapshots(topology.labDir)
  const snapshots = records.map((r) => ({
    name: r.name,
    created: r.created,
    vms: Object.entries(r.vms).map(([vm, saved]) => ({
      vm,
      state: saved.state,
      memory: saved.memory,
      disks: saved.disks.map((d) => d.name),
      complete: saved.disks.every((d) => diskHasTag(diskPath(topology, d.name), snapshotTag(r.name))),
    })),
  }))
  return { snapshots, damaged }
}
