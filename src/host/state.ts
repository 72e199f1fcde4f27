import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { access, mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { KvmctlError } from '../lib/errors.js'
import { temporaryName, temporaryOwner } from '../model/layout.js'
import type { Address, VmFields } from '../model/types.js'
import { isAlive } from './process.js'

/**
 * The lab's directory is its ownership marker for files and processes: everything kvmctl
 * makes for a lab (disks, pid files, sockets, logs, records) lives under it, at the places
 * src/model/layout.ts names, and nothing outside it is ever written or removed.
 */
export interface DiskRecord {
  readonly address: Address
  readonly format: string
  readonly protect: boolean
  readonly image: string | null
}

export interface VmRecord {
  readonly address: Address
  /** The fields the VM was (or is to be) started with, all but its state. */
  readonly fields: Omit<VmFields, 'state'>
  readonly state: string
  readonly uses: readonly Address[]
  /** The taps QEMU opened, by interface index: a tap deleted and made again is not the one QEMU holds. */
  readonly taps?: readonly { device: string; ifindex: number }[]
  /** The VM's shutdown_timeout when it was started: destroy --lab has no topology to ask. */
  readonly shutdownTimeoutSeconds?: number
}

/** Writes a file whole or not at all: a killed kvmctl never leaves half a record. */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  await makeDirectory(dirname(path))
  const temporary = temporaryName(path, process.pid)
  await writeFile(temporary, content, { mode })
  await rename(temporary, path)
}

/**
 * mkdir -p with mode 0700. Node's recursive mkdir says ENOENT where the file system refuses
 * (read-only, full): then the first directory that could not be made is tried alone, for the
 * real reason.
 */
export async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode: 0o700 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    let missing = path
    while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing)
    await mkdir(missing, { mode: 0o700 })
    throw error
  }
}

/**
 * Removes what writeFileAtomic leaves when kvmctl is killed between the write and the rename:
 * `<file>.tmp-<pid>` files of kvmctls that no longer run, in the lab's directory and the
 * directories in it. Called with the lab locked, so that no live kvmctl is writing there.
 */
export function sweepTemporaries(labDir: string): void {
  for (const dir of [labDir, ...listDir(labDir).map((d) => `${labDir}/${d}`)])
    removeFilesOfDeadPids(dir, temporaryOwner)
}

/**
 * Removes the files in `dir` that a process left for itself and that nobody else removes when it
 * is killed: those whose name holds (as `pidOf` reads it) the pid of a process that no longer
 * runs. `dir` may be a file or missing: then there is nothing to do.
 */
export function removeFilesOfDeadPids(dir: string, pidOf: (file: string) => number): void {
  let files: string[]
  try {
    files = readdirSync(dir)
  } catch {
    return
  }
  for (const file of files) {
    const pid = pidOf(file)
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid))
      rmSync(`${dir}/${file}`, { force: true })
  }
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`)
}

/**
 * A state file that is not there is absent; one kvmctl may not read (permissions, a file where
 * a directory should be) is an error: treating it as absent would plan to make the lab again.
 */
function unreadable(path: string, error: unknown): KvmctlError | null {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === undefined) return null
  return new KvmctlError(
    `cannot read the state directory at ${path}: ${code}`,
    'run kvmctl as the user who made the lab (usually root), or pass the right --state-dir',
  )
}

/** What reading a record found: the record, no record, or one that is not what kvmctl writes. */
export type RecordRead<T> =
  | { readonly state: 'ok'; readonly record: T }
  | { readonly state: 'missing' }
  | { readonly state: 'damaged'; readonly why: string }

/**
 * A JSON record, checked by `problem` (which says what is wrong with it, or null). A record is a
 * hint, never an authority: kvmctl takes no path or process from one, and one cut short, edited
 * or of another shape is `damaged`, for the caller to treat as unknown, never as absent.
 * Read synchronously, as the directory listings below: small local files that `plan` reads by
 * the hundred, for which libuv's thread pool costs more than the read.
 */
export function readRecord<T>(path: string, problem: (value: unknown) => string | null): RecordRead<T> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const fatal = unreadable(path, error)
    if (fatal) throw fatal
    return { state: 'missing' }
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { state: 'damaged', why: text.length === 0 ? 'it is empty' : 'it is not JSON (cut short?)' }
  }
  const why = problem(value)
  return why === null ? { state: 'ok', record: value as T } : { state: 'damaged', why }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const isStringList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string')
const nullableString = (v: unknown) => v === null || typeof v === 'string'

/** What is wrong with a disk record, or null: the shape recordDisk writes. */
export function diskRecordProblem(v: unknown): string | null {
  if (!isObject(v)) return 'it is not a JSON object'
  if (typeof v.address !== 'string') return '"address" is not a string'
  if (v.format !== 'qcow2' && v.format !== 'raw') return '"format" is neither qcow2 nor raw'
  if (typeof v.protect !== 'boolean') return '"protect" is not true or false'
  if (!nullableString(v.image)) return '"image" is not a string or null'
  return null
}

/** What is wrong with a VM record (spec.json), or null: the shape apply writes. */
export function vmRecordProblem(v: unknown): string | null {
  if (!isObject(v)) return 'it is not a JSON object'
  if (typeof v.address !== 'string') return '"address" is not a string'
  if (typeof v.state !== 'string') return '"state" is not a string'
  if (!isStringList(v.uses)) return '"uses" is not a list of addresses'
  if (!isObject(v.fields)) return '"fields" is not an object'
  const f = v.fields
  if (typeof f.cpus !== 'number' || typeof f.memory !== 'string' || typeof f.accel !== 'string')
    return '"fields" lacks cpus, memory or accel'
  for (const key of ['image', 'run_as', 'kernel', 'initrd', 'cmdline', 'cloud_init', 'ready'])
    if (!nullableString(f[key])) return `"fields.${key}" is not a string or null`
  if (!isStringList(f.nics) || !isStringList(f.disks)) return '"fields.nics" or "fields.disks" is not a list'
  if (f.links !== undefined && !isStringList(f.links)) return '"fields.links" is not a list'
  if (v.taps !== undefined) {
    const taps = v.taps
    if (
      !Array.isArray(taps) ||
      !taps.every((t) => isObject(t) && typeof t.device === 'string' && typeof t.ifindex === 'number')
    )
      return '"taps" is not a list of devices and interface indexes'
  }
  if (v.shutdownTimeoutSeconds !== undefined && typeof v.shutdownTimeoutSeconds !== 'number')
    return '"shutdownTimeoutSeconds" is not a number'
  return null
}

/** Whether a path exists (any kind of file), for the checks that need nothing more. */
export function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path)
  } catch (error) {
    const fatal = unreadable(path, error)
    if (fatal) throw fatal
    return []
  }
}

const FS_TROUBLE: Readonly<Record<string, [what: string, hint: string]>> = {
  EROFS: [
    'the file system is read-only',
    'remount it read-write, or pass a --state-dir on a writable file system',
  ],
  ENOSPC: [
    'the file system is full',
    'free space there (kvmctl image prune removes unused images), then run again',
  ],
  EDQUOT: ['the disk quota is used up', 'free space there, then run again'],
  EACCES: ['permission denied', 'run kvmctl as the user who owns the state directory (usually root)'],
  EPERM: [
    'the operation is not permitted',
    'run kvmctl as the user who owns the state directory (usually root)',
  ],
  EEXIST: [
    'something already exists at that place',
    'move it away: kvmctl makes that file or directory itself',
  ],
  ENOTDIR: ['a file stands where a directory should', 'move it away: kvmctl makes that directory itself'],
}

/**
 * A failed write in the state directory in words a person can act on: which path, what is wrong
 * with the file system, and what to do. Other errors pass unchanged.
 */
export function explainFsError(error: unknown): unknown {
  const e = error as NodeJS.ErrnoException
  const trouble = e?.code ? FS_TROUBLE[e.code] : undefined
  if (!trouble || e instanceof KvmctlError) return error
  const path = e.path ?? (e as { dest?: string }).dest
  return new KvmctlError(
    `cannot write ${path ?? 'in the state directory'}: ${trouble[0]} (${e.code})`,
    trouble[1],
    {
      cause: error,
    },
  )
}
