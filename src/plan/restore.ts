import { KvmctlError } from '../lib/errors.js'
import { parseAddress } from '../model/address.js'
import type { SnapshotRecord } from '../model/saved-state.js'
import type { Topology, Vm } from '../model/types.js'

/** What a restore does to one VM. */
export interface RestoreStep {
  readonly vm: string
  /** Memory and devices come back: the guest goes on from the moment of the save. */
  readonly memory: boolean
  /** Its QEMU is started again (from the rolled-back disks, or paused to load the memory into). */
  readonly restart: boolean
  /** After a memory restore: running (as at the save) or paused. */
  readonly resume: boolean
  /** The disks rolled back, by name. */
  readonly disks: readonly string[]
  /** Disks of the VM that stay as they are: protected, or not in the snapshot. */
  readonly kept: readonly string[]
  readonly notes: readonly string[]
}

export interface RestorePlan {
  readonly snapshot: string
  readonly steps: readonly RestoreStep[]
  /** VMs of the snapshot that are not restored, and why. */
  readonly skipped: readonly { readonly vm: string; readonly why: string }[]
}

export interface RestoreInput {
  readonly record: SnapshotRecord
  readonly topology: Topology
  /** --target: vm/NAME addresses; empty: every VM of the snapshot. */
  readonly targets: readonly string[]
  /** The command line a VM's QEMU runs with now, or null when it does not run. */
  readonly runningArgv: (vm: string) => readonly string[] | null
  /** The command line kvmctl would start the VM with now. */
  readonly desiredArgv: (vm: Vm) => readonly string[]
  /** Whether a disk of the lab still holds the snapshot's data (a disk made again does not). */
  readonly diskHasSnapshot: (disk: string) => boolean
}

/**
 * What `snapshot restore` does, from the snapshot's record, the topology as it is now and the
 * host: pure. A VM whose QEMU command line is still the one it was saved with gets its memory
 * back; one whose configuration changed since (memory, NICs, disks...) cannot take the saved
 * device state, so its disks are rolled back and it restarts, said in a note. A protected disk is
 * never rolled back: without --target that refuses the restore; with it, the disk stays and its VM
 * restarts from its other disks, since a memory image would not match the disk it keeps.
 */
export function planRestore(input: RestoreInput): RestorePlan {
  const { record, topology } = input
  const selected = selectVms(input)
  const steps: RestoreStep[] = []
  const skipped: { vm: string; why: string }[] = []
  for (const name of selected) {
    const saved = record.vms[name]!
    const vm = topology.vms.find((v) => v.name === name)
    if (!vm) {
      skipped.push({ vm: name, why: 'it is no longer in the topology' })
      continue
    }
    const lost = saved.disks.filter((d) => !input.diskHasSnapshot(d.name)).map((d) => `disk/${d.name}`)
    if (lost.length > 0) {
      skipped.push({ vm: name, why: `${lost.join(', ')} no longer hold the snapshot (made again since?)` })
      continue
    }
    const protectedDisks = saved.disks
      .map((d) => d.name)
      .filter((d) => topology.disks.find((x) => x.name === d)?.protect)
    if (protectedDisks.length > 0 && input.targets.length === 0) {
      throw new KvmctlError(
        `snapshot "${record.name}" would roll back ${protectedDisks.map((d) => `disk/${d}`).join(', ')}, which is protected (protect: true); nothing was changed`,
        `restore the VMs with --target vm/NAME: their protected disks stay as they are, and they restart from the others`,
      )
    }
    const disks = saved.disks.map((d) => d.name).filter((d) => !protectedDisks.includes(d))
    const current = [vm.bootDisk, ...vm.disks].map((a) => parseAddress(a)!.name)
    const kept = [...protectedDisks, ...current.filter((d) => !saved.disks.some((s) => s.name === d))]
    const notes: string[] = []
    for (const d of current.filter((d) => !saved.disks.some((s) => s.name === d)))
      notes.push(`disk/${d} is not in the snapshot: it stays as it is`)
    for (const d of protectedDisks) notes.push(`disk/${d} is protected: it stays as it is`)

    const desired = withoutPause(input.desiredArgv(vm))
    const changed = saved.argv ? argvChange(withoutPause(saved.argv), desired) : null
    let memory = saved.memory
    if (memory && vm.state === 'stopped') {
      memory = false
      notes.push('state: stopped in the topology: its disks are rolled back and it stays stopped')
    } else if (memory && protectedDisks.length > 0) {
      memory = false
      notes.push("its memory is not restored: it would not match the protected disk's data; it restarts")
    } else if (memory && changed) {
      memory = false
      notes.push(
        `its memory is not restored: its QEMU command line changed since the save (${changed}); its disks are rolled back and it restarts`,
      )
    } else if (!saved.memory && saved.diskOnlyBecause) {
      notes.push(`disks only (${saved.diskOnlyBecause})`)
    }
    const running = input.runningArgv(name)
    const sameQemu = running !== null && argvChange(withoutPause(running), desired) === null
    steps.push({
      vm: name,
      memory,
      restart: memory ? !sameQemu : vm.state !== 'stopped',
      resume: memory && saved.state === 'running',
      disks,
      kept,
      notes,
    })
  }
  return { snapshot: record.name, steps, skipped }
}

function selectVms(input: RestoreInput): string[] {
  const saved = Object.keys(input.record.vms).sort()
  if (input.targets.length === 0) return saved
  return input.targets.map((target) => {
    const address = parseAddress(target)
    if (address?.type === 'disk') {
      const disk = input.topology.disks.find((d) => d.name === address.name)
      throw new KvmctlError(
        disk?.protect
          ? `${target} is protected (protect: true): kvmctl never rolls it back`
          : `a restore's targets are VMs, not ${target}`,
        'name VMs: --target vm/NAME restores a VM with its disks',
      )
    }
    if (address?.type !== 'vm' || !(address.name in input.record.vms))
      throw new KvmctlError(
        `snapshot "${input.record.name}" has no ${target}`,
        `its VMs: ${saved.map((v) => `vm/${v}`).join(', ')}`,
      )
    return address.name
  })
}

/** -S (start paused) says how QEMU starts, not what the machine is. */
const withoutPause = (argv: readonly string[]) => argv.filter((a) => a !== '-S')

/**
 * The difference between two QEMU command lines, as the options that differ (`-m 1024 → -m
 * 2048`), or null when they are the same.
 */
export function argvChange(before: readonly string[], after: readonly string[]): string | null {
  if (before.length === after.length && before.every((a, i) => a === after[i])) return null
  const options = (argv: readonly string[]) => {
    const out: string[] = []
    for (let i = 1; i < argv.length; i++) {
      const next = argv[i + 1]
      if (next !== undefined && !next.startsWith('-')) out.push(`${argv[i]} ${argv[++i]}`)
      else out.push(argv[i]!)
    }
    return out
  }
  const a = options(before)
  const b = options(after)
  const gone = a.filter((o) => !b.includes(o))
  const added = b.filter((o) => !a.includes(o))
  const shown = (list: string[]) =>
    list.length > 2 ? `${list.slice(0, 2).join(', ')}, ...` : list.join(', ')
  if (gone.length === 0 && added.length === 0) return 'its options are in another order'
  if (gone.length === 0) return `added ${shown(added)}`
  if (added.length === 0) return `removed ${shown(gone)}`
  return `${shown(gone)} → ${shown(added)}`
}
