import { createHash } from 'node:crypto'
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname } from 'node:path'
import { trustedDirectory } from './trusted-dir.js'

/**
 * kvmctl's entries in the user's cache (XDG_CACHE_HOME, else ~/.cache): `kvmctl/<kind>/<hash of
 * key>.json`, a JSON value each, written under a temporary name and renamed. Best effort: an entry
 * that cannot be read or written is not there. The cache is skipped when its directories are not
 * the user's own (as under sudo keeping $HOME): an entry is read back as what kvmctl found.
 */
const kindDir = (kind: string) => `${process.env.XDG_CACHE_HOME || `${homedir()}/.cache`}/kvmctl/${kind}`

function entryPath(kind: string, key: string): string | null {
  const dir = kindDir(kind)
  try {
    if (!trustedDirectory(dirname(dir)) || !trustedDirectory(dir)) return null
  } catch {
    return null
  }
  return `${dir}/${createHash('sha256').update(key).digest('hex')}.json`
}

/** The value kept for `key`, if the cache has one this user wrote. */
export function readUserCache(kind: string, key: string): unknown | undefined {
  const path = entryPath(kind, key)
  if (!path) return undefined
  try {
    const stat = lstatSync(path)
    if (!stat.isFile() || stat.uid !== (process.geteuid?.() ?? stat.uid)) return undefined
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    return undefined
  }
}

/** Keeps `value` for `key`; the kind keeps its `kept` most recently written entries. */
export function writeUserCache(kind: string, key: string, value: unknown, kept = 256): void {
  let temporary: string | null = null
  try {
    mkdirSync(kindDir(kind), { recursive: true, mode: 0o700 })
    const path = entryPath(kind, key)
    if (!path) return
    temporary = `${path}.tmp-${process.pid}`
    writeFileSync(temporary, JSON.stringify(value), { mode: 0o600 })
    renameSync(temporary, path)
    prune(kindDir(kind), kept)
  } catch {
    if (temporary) rmSync(temporary, { force: true })
  }
}

function prune(dir: string, kept: number): void {
  const names = readdirSync(dir)
  if (names.length <= kept) return
  const byAge = names
    .map((name) => ({ name, mtime: lstatSync(`${dir}/${name}`).mtimeMs }))
    .sort((a, b) => a.mtime - b.mtime)
  for (const { name } of byAge.slice(0, names.length - kept)) rmSync(`${dir}/${name}`, { force: true })
}
