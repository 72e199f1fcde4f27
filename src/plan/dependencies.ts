import type { Address, Resource, Topology } from '../model/types.js'

/**
 * What a desired resource needs on the host before it can exist: a VM its disks and taps, a tap
 * its bridge (or, the second end of a p2p wire, the first end).
 */
export function desiredUses(resource: Resource, topology: Topology): Address[] {
  switch (resource.type) {
    case 'network':
    case 'disk':
      return []
    case 'tap': {
      // A p2p tap has no bridge; the later end of the wire waits for the earlier, and wires both.
      if (resource.peer) return resource.peer.address < resource.address ? [resource.peer.address] : []
      const network = topology.networks.find((n) => n.name === resource.network)
      return network && !network.external ? [network.address] : []
    }
    case 'vm':
      return [...resource.nics.map((n) => n.tap), resource.bootDisk, ...resource.disks]
  }
}

/**
 * Levels of a dependency graph: an action's level is one more than the highest level of what it
 * depends on. The executor runs one level after another; the plan lists actions in this order.
 */
export function dependencyLevels(dependsOn: ReadonlyMap<Address, readonly Address[]>): Map<Address, number> {
  const levels = new Map<Address, number>()
  const visiting = new Set<Address>()
  const visit = (address: Address): number => {
    const known = levels.get(address)
    if (known !== undefined) return known
    if (visiting.has(address)) throw new Error(`dependency cycle through ${address}`)
    visiting.add(address)
    let level = 0
    for (const dep of dependsOn.get(address) ?? [])
      if (dependsOn.has(dep)) level = Math.max(level, visit(dep) + 1)
    visiting.delete(address)
    levels.set(address, level)
    return level
  }
  for (const address of dependsOn.keys()) visit(address)
  return levels
}
