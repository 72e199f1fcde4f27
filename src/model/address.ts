import { type Address, RESOURCE_ORDER, type Resource, type ResourceType, type Topology } from './types.js'

export function addressOf(type: ResourceType, name: string): Address {
  return `${type}/${name}`
}

export function parseAddress(address: Address): { type: ResourceType; name: string } | null {
  const slash = address.indexOf('/')
  const type = address.slice(0, slash) as ResourceType
  if (slash < 0 || !RESOURCE_ORDER.includes(type)) return null
  return { type, name: address.slice(slash + 1) }
}

/** Stable order: by resource kind (networks, disks, taps, vms), then by name. */
export function compareAddresses(a: Address, b: Address): number {
  const ta = RESOURCE_ORDER.indexOf(parseAddress(a)?.type ?? 'vm')
  const tb = RESOURCE_ORDER.indexOf(parseAddress(b)?.type ?? 'vm')
  if (ta !== tb) return ta - tb
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * What kvmctl makes on the host for a topology: every resource but the networks that are no
 * object of the lab's own (an external bridge is the host's; a p2p network is only its taps).
 */
export function hostResources(topology: Topology): Resource[] {
  const networks = topology.networks.filter((n) => !n.external && !n.p2p)
  return [...networks, ...topology.disks, ...topology.taps, ...topology.vms]
}

export const bootDiskName = (vm: string): string => `${vm}.boot`
export const tapName = (vm: string, index: number): string => `${vm}.${index}`
