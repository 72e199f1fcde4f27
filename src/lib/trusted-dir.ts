import { lstatSync, type Stats } from 'node:fs'
import { KvmctlError } from './errors.js'

/**
 * A directory kvmctl may write in and read back from, as OpenSSH's StrictModes has it: not a
 * symbolic link, owned by the user running kvmctl, not writable by group or others (nobody else
 * could have put a file there). Its status, or null when it does not exist; an error that says
 * why and what to do otherwise.
 */
export function trustedDirectory(path: string, fix = 'pass another --state-dir'): Stats | null {
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
  if (stat.isSymbolicLink()) throw symlinkError(path)
  if (!stat.isDirectory()) throw new KvmctlError(`${path} is not a directory`, `move it away, or ${fix}`)
  const me = process.geteuid?.() ?? stat.uid
  if (stat.uid !== me) {
    throw new KvmctlError(
      `${path} belongs to user ${stat.uid}, not to the user running kvmctl (${me}): kvmctl will not use files another user could have put there`,
      `if it is yours, chown -R ${me} ${path}; otherwise ${fix}`,
    )
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new KvmctlError(
      `${path} may be written by ${stat.mode & 0o020 ? 'its group' : 'others'} (mode ${(stat.mode & 0o777).toString(8)}): kvmctl will not use files somebody else could have put there`,
      `chmod 700 ${path}, or ${fix}`,
    )
  }
  return stat
}

export function symlinkError(path: string): KvmctlError {
  return new KvmctlError(
    `${path} is a symbolic link; kvmctl follows no link in its state directory (a write through it would land outside the lab)`,
    'remove the link (and check who made it); kvmctl makes none itself',
  )
}
