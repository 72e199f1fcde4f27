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

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}
