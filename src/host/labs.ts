import { statSync } from 'node:fs'
import { labDirOf, labFiles, resourceOfDir, vmDir, vmFiles } from '../model/layout.js'
import type { Topology } from '../model/types.js'
import { isOurProcess, readPidFile } from './process.js'
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
