import { createHash } from 'node:crypto'
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import { trustedDirectory } from '../lib/trusted-dir.js'

/**
 * What the YAML parser made of a topology, kept in the user's cache, one entry per topology file
 * (named after its path) holding a hash of the text it was made from. The `yaml` library takes
 * ~0.3 ms per VM before its code is warm (100 ms for a 300-VM file), on every `plan`; reading
 * the data back as JSON takes 1. Only text that parsed without a problem is kept, and an entry
 * is used only for the same text, so what kvmctl acts on is what the parser said of the file.
 * The cache is skipped when its directory is not the user's own (as under sudo keeping $HOME).
 */
const FORMAT = 1

function cacheDir(): string {
  return `${process.env.XDG_CACHE_HOME || `${homedir()}/.cache`}/kvmctl/topologies`
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex')

function entryPath(file: string): string | null {
  const dir = cacheDir()
  try {
    // Both directories must be the user's: an entry is read back as what the file says.
    if (!trustedDirectory(resolve(dir, '..')) || !trustedDirectory(dir)) return null
  } catch {
    return null
  }
  return `${dir}/${hash(resolve(file))}.json`
}

/** The data parsed from exactly this text before, if the cache has it. */
export function cachedTopologyData(file: string, text: string): unknown | undefined {
  const path = entryPath(file)
  if (!path) return undefined
  try {
    const stat = lstatSync(path)
    if (!stat.isFile() || stat.uid !== (process.geteuid?.() ?? stat.uid)) return undefined
    const entry = JSON.parse(readFileSync(path, 'utf8')) as { format?: number; text?: string; data?: unknown }
    return entry.format === FORMAT && entry.text === hash(text) ? entry.data : undefined
  } catch {
    return undefined
  }
}

/** Keeps what the parser made of this text, when JSON can carry it exactly; best effort. */
export function cacheTopologyData(file: string, text: string, data: unknown): void {
  if (!jsonSafe(data)) return
  let temporary: string | null = null
  try {
    mkdirSync(cacheDir(), { recursive: true, mode: 0o700 })
    const path = entryPath(file)
    if (!path) return
    temporary = `${path}.tmp-${process.pid}`
    writeFileSync(temporary, JSON.stringify({ format: FORMAT, text: hash(text), data }), { mode: 0o600 })
    renameSync(temporary, path)
    prune(cacheDir())
  } catch {
    if (temporary) rmSync(temporary, { force: true })
  }
}

/** The cache keeps the entries of the most recently parsed topology files, up to this many. */
const KEPT = 256

function prune(dir: string): void {
  const names = readdirSync(dir)
  if (names.length <= KEPT) return
  const byAge = names
    .map((name) => ({ name, mtime: lstatSync(`${dir}/${name}`).mtimeMs }))
    .sort((a, b) => a.mtime - b.mtime)
  for (const { name } of byAge.slice(0, names.length - KEPT)) rmSync(`${dir}/${name}`, { force: true })
}

/** Plain data JSON keeps as it is: no infinity or NaN (.inf, .nan in YAML), nothing undefined. */
function jsonSafe(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every(jsonSafe)
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.values(value as object).every(jsonSafe)
  return false
}
