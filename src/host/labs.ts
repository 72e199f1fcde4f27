import { statSync } from 'node:fs'
import { rm, rmdir } from 'node:fs/promises'
import { KvmctlError } from '../lib/errors.js'
import {
  isOwnFileName,
  labDirOf,
  labFiles,
  resourceOfDir,
  snapshotFiles,
  sshFiles,
  vmDir,
  vmFiles,
} from '../model/layout.js'
import type { LabHost, Topology } from '../model/types.js'
import { isOurProcess, labQemus, readPidFile } from './process.js'
import { listDir, readRecord, writeJson } from './state.js'

/**
 * A lab's record, lab.json: which topology file made it, when it was first applied, when last,
 * and until when it may live (its ttl after the last apply). What `ls` and `gc` read, so that
 * they need no topology file.
 */
export interface LabRecord {
  readonly lab: string
  readonly file: string
  readonly created: string
  readonly applied: string
  /** ISO time, or null: no ttl. */
  readonly expires: string | null
  /** A lab that spans hosts: its hosts at this apply, so that a host dropped later is cleaned. */
  readonly hosts?: readonly LabHost[]
}

export function labRecordProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'it is not a JSON object'
  const r = v as Record<string, unknown>
  if (typeof r.lab !== 'string' || typeof r.file !== 'string') return '"lab" or "file" is not a string'
  for (const key of ['created', 'applied'])
    if (r[key] !== undefined && typeof r[key] !== 'string') return `"${key}" is not a time`
  if (r.expires !== undefined && r.expires !== null && typeof r.expires !== 'string')
    return '"expires" is not a time'
  return null
}

/**
 * Writes the lab's record at an apply: `created` stays from the first one, `expires` follows the
 * ttl. Returns the expiry, if any.
 */
export async function recordLab(
  topology: Topology,
  ttlSeconds: number | null,
  now = new Date(),
): Promise<string | null> {
  const path = labFiles(topology.labDir).record
  const read = readRecord<Partial<LabRecord>>(path, labRecordProblem)
  const record: LabRecord = {
    lab: topology.lab,
    file: topology.file,
    created: (read.state === 'ok' && read.record.created) || now.toISOString(),
    applied: now.toISOString(),
    expires: ttlSeconds === null ? null : new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
    ...(topology.hosts.length > 0 ? { hosts: topology.hosts } : {}),
  }
  await writeJson(path, record)
  return record.expires
}

export interface LabSummary {
  readonly lab: string
  readonly labDir: string
  /** The topology file that made it; it may be gone. */
  readonly file: string | null
  readonly created: Date | null
  readonly expires: Date | null
  readonly vms: number
  readonly running: number
}

/**
 * The labs of a state directory: every directory with a lab's record or a VM's or network's
 * directory in it (images/ is the shared cache). Records written before `created` existed give
 * their file's time.
 */
export function listLabs(stateDir: string): LabSummary[] {
  return listDir(stateDir)
    .filter((name) => name !== 'images' && /^[a-z][a-z0-9-]{0,23}$/.test(name))
    .flatMap((lab): LabSummary[] => {
      const labDir = labDirOf(stateDir, lab)
      const entries = listDir(labDir)
      const vms = entries.flatMap((d) => (resourceOfDir(d)?.kind === 'vm' ? [resourceOfDir(d)!.name] : []))
      const recordPath = labFiles(labDir).record
      const read = readRecord<Partial<LabRecord>>(recordPath, labRecordProblem)
      if (read.state !== 'ok' && vms.length === 0 && !entries.some((d) => resourceOfDir(d))) return []
      const record = read.state === 'ok' ? read.record : null
      const fileTime = () => {
        try {
          return statSync(read.state === 'ok' ? recordPath : labDir).mtime
        } catch {
          return null
        }
      }
      const running = vms.filter((vm) => {
        const pidFile = vmFiles(vmDir(labDir, vm)).pid
        const pid = readPidFile(pidFile)
        return pid !== null && isOurProcess(pid, pidFile)
      }).length
      return [
        {
          lab,
          labDir,
          file: record?.file || null,
          created: record?.created ? new Date(record.created) : fileTime(),
          expires: record?.expires ? new Date(record.expires) : null,
          vms: vms.length,
          running,
        },
      ]
    })
}

/**
 * After destroy, sweep what an interrupted kvmctl may have left in the lab's directory: records,
 * half-written files, the run directory of a VM that never started. Only kvmctl's own file
 * names; never a disk image (those go only through a plan that announced it), never a directory
 * that is not empty.
 */
export async function removeLabDir(labDir: string): Promise<void> {
  const subs = [
    labFiles(labDir).disks,
    sshFiles(labDir).dir,
    // The snapshots' records: their data went with the disks.
    snapshotFiles(labDir).dir,
    ...listDir(labDir)
      .filter((d) => resourceOfDir(d))
      .map((d) => `${labDir}/${d}`),
  ]
  for (const sub of subs) {
    for (const file of listDir(sub)) if (isOwnFileName(file)) await rm(`${sub}/${file}`, { force: true })
    await rmdir(sub).catch(() => {})
  }
  for (const file of listDir(labDir)) if (isOwnFileName(file)) await rm(`${labDir}/${file}`, { force: true })
  await rmdir(labDir).catch(() => {})
}

/** The hosts a lab spanned at its last apply here, as its record says ([] without a record). */
export function recordedHosts(stateDir: string, lab: string): LabHost[] {
  const read = readRecord<LabRecord>(labFiles(labDirOf(stateDir, lab)).record, labRecordProblem)
  if (read.state !== 'ok' || !Array.isArray(read.record.hosts)) return []
  return read.record.hosts.filter(
    (h): h is LabHost =>
      typeof h?.name === 'string' && typeof h.ssh === 'string' && typeof h.kvmctl === 'string',
  )
}

/** After a destroy of the whole lab: nothing of it may still run here, and its directory goes. */
export async function removeStoppedLab(topology: Topology): Promise<void> {
  const left = labQemus(topology.labDir)
  if (left.length > 0) {
    throw new KvmctlError(
      `QEMU processes of lab "${topology.lab}" still run: ${left.map((q) => `vm/${q.vm} (pid ${q.pid})`).join(', ')}`,
      'run `kvmctl destroy` again; if they stay, stop them by hand (kill PID)',
    )
  }
  await removeLabDir(topology.labDir)
}
