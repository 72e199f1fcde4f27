import { type Dirent, lstatSync, readdirSync, type Stats } from 'node:fs'
import { KvmctlError } from '../lib/errors.js'
import { imageCacheDir } from '../model/layout.js'

/**
 * The state directory is a boundary: kvmctl, running as root, writes and deletes there, and
 * QEMU, dnsmasq and qemu-img open files there. So, as OpenSSH's StrictModes does, it refuses a
 * state directory, lab directory or directory in it that another user owns or that group or
 * others may write (somebody else could have put a file there for root to use), and any symbolic
 * link in them (a write through one lands outside the lab). Checked before every plan, before
 * anything is written; cheap: a listing per directory, whose entries say their own type.
 */
export function checkStateDir(stateDir: string, labDir: string): void {
  const state = directory(stateDir)
  if (!state) return
  checkImageCache(stateDir)
  const lab = directory(labDir)
  if (!lab) return
  for (const entry of entries(labDir)) {
    const path = `${labDir}/${entry.name}`
    if (entry.isSymbolicLink()) throw symlink(path)
    if (!entry.isDirectory()) continue
    directory(path)
    for (const inner of entries(path)) if (inner.isSymbolicLink()) throw symlink(`${path}/${inner.name}`)
  }
}

/** The image cache's directory and its files: no link there either. */
export function checkImageCache(stateDir: string): void {
  const dir = imageCacheDir(stateDir)
  if (!directory(dir)) return
  for (const entry of entries(dir)) if (entry.isSymbolicLink()) throw symlink(`${dir}/${entry.name}`)
}

/** The directory's status when it exists and kvmctl may trust it; null when it does not exist. */
function directory(path: string): Stats | null {
  let stat: Stats
  try {
    stat = lstatSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new KvmctlError(
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code}`,
      'run kvmctl as the user who made the lab (usually root), or pass the right --state-dir',
    )
  }
  if (stat.isSymbolicLink()) throw symlink(path)
  if (!stat.isDirectory())
    throw new KvmctlError(`${path} is not a directory`, 'move it away, or pass another --state-dir')
  const me = process.geteuid?.() ?? stat.uid
  if (stat.uid !== me) {
    throw new KvmctlError(
      `${path} belongs to user ${stat.uid}, not to the user running kvmctl (${me}): kvmctl will not use files another user could have put there`,
      `if it is yours, chown -R ${me} ${path}; otherwise pass another --state-dir`,
    )
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new KvmctlError(
      `${path} may be written by ${stat.mode & 0o020 ? 'its group' : 'others'} (mode ${(stat.mode & 0o777).toString(8)}): kvmctl will not use files somebody else could have put there`,
      `chmod 700 ${path}, or pass another --state-dir`,
    )
  }
  return stat
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
}

function symlink(path: string): KvmctlError {
  return new KvmctlError(
    `${path} is a symbolic link; kvmctl follows no link in its state directory (a write through it would land outside the lab)`,
    'remove the link (and check who made it); kvmctl makes none itself',
  )
}
