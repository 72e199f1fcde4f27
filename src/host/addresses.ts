import type { Topology, Vm } from '../model/types.js'
import { type Lease, readLeases } from './dhcp-ops.js'

/** What each DHCP network of the lab has handed out, by network, from dnsmasq's lease files. */
export async function labLeases(topology: Topology): Promise<Map<string, Lease[]>> {
  const networks = topology.networks.filter((n) => n.dhcp)
  return new Map(
    await Promise.all(
      networks.map(async (n) => [n.name, await readLeases(topology.labDir, n.name)] as const),
    ),
  )
}

/** A VM's IPv4 addresses in NIC order: the fixed ip of a NIC, else its DHCP lease. */
export function vmAddresses(topology: Topology, vm: Vm, leases: ReadonlyMap<string, Lease[]>): string[] {
  return topology.taps
    .filter((t) => t.vm === vm.name)
    .flatMap((t) => {
      if (t.ip) return [t.ip]
      const lease = (leases.get(t.network) ?? [])
        .filter((l) => l.mac === t.mac)
        .sort((a, b) => b.expires - a.expires)[0]
      return lease ? [lease.ip] : []
    })
}

/** Where to reach a VM: its first address, looked up now (a lease may come late). */
export async function vmAddress(topology: Topology, vm: Vm): Promise<string | null> {
  return vmAddresses(topology, vm, await labLeases(topology))[0] ?? null
}
