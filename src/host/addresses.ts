import { KvmctlError } from '../lib/errors.js'
import { sshFiles } from '../model/layout.js'
import type { Topology, Vm } from '../model/types.js'
import { type Lease, readLeases } from './dhcp-ops.js'
import { exists } from './state.js'

/** What each DHCP network of the lab has handed out, by network, from dnsmasq's lease files. */
export async function labLeases(topology: Topology): Promise<Map<string, Lease[]>> {
  const networks = topology.networks.filter((n) => n.dhcp)
  return new Map(
    await Promise.all(
      networks.map(async (n) => [n.name, await readLeases(topology.labDir, n.name)] as const),
    ),
  )
}

/**
 * A VM's addresses in NIC order: each NIC's IPv4 address (its fixed ip, else its DHCP lease),
 * then its IPv6 one (its ip6, else its DHCPv6 lease). The first is where kvmctl ssh goes.
 */
export function vmAddresses(topology: Topology, vm: Vm, leases: ReadonlyMap<string, Lease[]>): string[] {
  return topology.taps
    .filter((t) => t.vm === vm.name)
    .flatMap((t) => {
      const latest = (v6: boolean) =>
        (leases.get(t.network) ?? [])
          .filter((l) => l.mac === t.mac && l.ip.includes(':') === v6)
          .sort((a, b) => b.expires - a.expires)[0]?.ip ?? null
      return [t.ip ?? latest(false), t.ip6 ?? latest(true)].filter((a) => a !== null)
    })
}

/** Where to reach a VM: its first address, looked up now (a lease may come late). */
export async function vmAddress(topology: Topology, vm: Vm): Promise<string | null> {
  return vmAddresses(topology, vm, await labLeases(topology))[0] ?? null
}

/** `user@address` of a VM that kvmctl can log in to, or an error that says what is missing. */
export async function sshTarget(topology: Topology, vm: Vm): Promise<string> {
  if (!vm.cloudInit) {
    throw new KvmctlError(
      `vm/${vm.name} has no cloud_init, so kvmctl gave it no SSH key`,
      'add a cloud_init block (even `cloud_init: {}`), apply, and try again',
    )
  }
  const hasKey = await exists(sshFiles(topology.labDir).key)
  const address = await vmAddress(topology, vm)
  if (!hasKey || !address) {
    throw new KvmctlError(
      hasKey
        ? `vm/${vm.name} has no address yet: no ip in the topology and no DHCP lease`
        : `lab "${topology.lab}" has no SSH key yet: it is made when a VM with cloud_init first starts`,
      'run `kvmctl apply --wait` first; `kvmctl status` shows the VMs and their addresses',
    )
  }
  return `${vm.sshUser}@${address}`
}
