import { readdirSync, readFileSync, rmSync } from 'node:fs'
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
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = temporaryName(path, process.pid)
  await writeFile(temporary, content, { mode })
  await rename(temporary, path)
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

/**
 * A JSON record, or null when it is absent or not JSON (a record cut short reads as absent).
 * Read synchronously, as the directory listings below: small local files that `plan` reads by
 * the hundred, for which libuv's thread pool costs more than the read.
 */
export function readJson<T>(path: string): T | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const fatal = unreadable(path, error)
    if (fatal) throw fatal
    return null
  }
  try {
    return JSON.parse(text) as T
  } catch {
    return null
  }
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
