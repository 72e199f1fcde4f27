/**
 * A lab snapshot's record (`<lab>/snapshots/<name>.json`): which VMs it holds and how. The data
 * itself is inside the disks' qcow2 files, under the tag `kvmctl-<name>` (layout.ts); the record
 * names disks and VMs only, and kvmctl takes their paths from the layout, never from the record.
 */
export interface SnapshotRecord {
  readonly name: string
  readonly lab: string
  readonly created: string
  readonly vms: Readonly<Record<string, SavedVm>>
}

export type SavedRunState = 'running' | 'paused' | 'stopped'

export interface SavedVm {
  /** The VM's state at the save. */
  readonly state: SavedRunState
  /** Its memory and device state are in the snapshot: a restore goes on from the very moment. */
  readonly memory: boolean
  /** Why its memory is not (disk-only asked, stopped, a shared folder...), or null. */
  readonly diskOnlyBecause: string | null
  /** QEMU's command line at the save, to compare with the one it would run now; null: stopped. */
  readonly argv: readonly string[] | null
  /** Its disks by name, with their QEMU block node, boot disk first. */
  readonly disks: readonly { readonly name: string; readonly node: string }[]
}

/** A snapshot's name: it becomes a file name and a qcow2 tag. */
export const SNAPSHOT_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/

const NAME = /^[a-z0-9][a-z0-9.-]*$/

export function snapshotRecordProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'it is not a JSON object'
  const r = v as Record<string, unknown>
  if (typeof r.name !== 'string' || !SNAPSHOT_NAME.test(r.name)) return '"name" is not a snapshot name'
  if (typeof r.lab !== 'string' || typeof r.created !== 'string') return '"lab" or "created" is not a string'
  if (typeof r.vms !== 'object' || r.vms === null) return '"vms" is not an object'
  for (const [name, vm] of Object.entries(r.vms as Record<string, unknown>)) {
    if (!NAME.test(name)) return `"${name}" is not a VM name`
    const s = vm as Record<string, unknown>
    if (!['running', 'paused', 'stopped'].includes(String(s?.state))) return `vms.${name}.state is unknown`
    if (typeof s.memory !== 'boolean') return `vms.${name}.memory is not a boolean`
    if (s.argv !== null && !(Array.isArray(s.argv) && s.argv.every((a) => typeof a === 'string')))
      return `vms.${name}.argv is not a command line`
    if (
      !Array.isArray(s.disks) ||
      !s.disks.every((d) => NAME.test(String(d?.name)) && /^disk\d+$/.test(String(d?.node)))
    )
      return `vms.${name}.disks is not a list of disks`
  }
  return null
}
