import { createHash } from 'node:crypto'
import type { HostSnapshot } from '../model/snapshot.js'
import type { Topology } from '../model/types.js'

/**
 * A hash of what the plan was made against: the lab's objects and the conflicts, but not
 * the host's free memory, which changes all the time without making a plan stale.
 */
export function fingerprint(snapshot: HostSnapshot): string {
  const { capacity: _ignored, ...stable } = snapshot
  return `sha256:${createHash('sha256').update(canonicalJson(stable)).digest('hex')}`
}

export function topologyHash(topology: Topology): string {
  return `sha256:${createHash('sha256').update(canonicalJson(topology)).digest('hex')}`
}

/**
 * JSON with every object's keys in sorted order, so that equal values give equal text. Native
 * JSON.stringify with a replacer that sorts: `plan` hashes the whole host snapshot every run, and
 * this is 2-3 times cheaper than building the text by hand.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    const sorted: Record<string, unknown> = {}
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key]
    return sorted
  })
}
