import { createHash } from 'node:crypto'
import { canonicalJson } from '../lib/canonical-json.js'
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
