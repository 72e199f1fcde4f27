import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { readUserCache, writeUserCache } from '../lib/user-cache.js'

/**
 * What the YAML parser made of a topology, kept in the user's cache, one entry per topology file
 * (named after its path) holding a hash of the text it was made from. The `yaml` library takes
 * ~0.3 ms per VM before its code is warm (100 ms for a 300-VM file), on every `plan`; reading
 * the data back as JSON takes 1. Only text that parsed without a problem is kept, and an entry
 * is used only for the same text, so what kvmctl acts on is what the parser said of the file.
 */
const FORMAT = 1
const KIND = 'topologies'

const hash = (text: string) => createHash('sha256').update(text).digest('hex')

/** The data parsed from exactly this text before, if the cache has it. */
export function cachedTopologyData(file: string, text: string): unknown | undefined {
  const entry = readUserCache(KIND, resolve(file)) as
    | { format?: number; text?: string; data?: unknown }
    | undefined
  return entry?.format === FORMAT && entry.text === hash(text) ? entry.data : undefined
}

/** Keeps what the parser made of this text, when JSON can carry it exactly; best effort. */
export function cacheTopologyData(file: string, text: string, data: unknown): void {
  if (jsonSafe(data)) writeUserCache(KIND, resolve(file), { format: FORMAT, text: hash(text), data })
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
