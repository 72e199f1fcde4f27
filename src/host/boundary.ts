import { type Dirent, readdirSync } from 'node:fs'
import { symlinkError, trustedDirectory } from '../lib/trusted-dir.js'
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
  const state = trustedDirectory(stateDir)
  if (!state) return
  checkImageCache(stateDir)
  const lab = trustedDirectory(labDir)
  if (!lab) return
  for (const entry of entries(labDir)) {
    const path = `${labDir}/${entry.name}`
    if (entry.isSymbolicLink()) throw symlinkError(path)
    if (!entry.isDirectory()) continue
    trustedDirectory(path)
    for (const inner of entries(path)) if (inner.isSymbolicLink()) throw symlinkError(`${path}/${inner.name}`)
  }
}

/** The image cache's directory and its files: no link there either. */
export function checkImageCache(stateDir: string): void {
  const dir = imageCacheDir(stateDir)
  if (!trustedDirectory(dir)) return
  for (const entry of entries(dir)) if (entry.isSymbolicLink()) throw symlinkError(`${dir}/${entry.name}`)
}

function entries(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
}
