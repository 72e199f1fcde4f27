import { hostInterfaceName } from './names.js'
import type { Disk, LabHost, Network, Topology } from './types.js'

/** The `ssh` of a host that is this machine: reached through a child process, no ssh. */
export const LOCAL_SSH = 'local'

/** Where a VM without `host` runs: the only host, else the one that is this machine, else nowhere. */
export function defaultHost(hosts: readonly Pick<LabHost, 'name' | 'ssh'>[]): string | null {
  if (hosts.length === 1) return hosts[0]!.name
  return hosts.find((h) => h.ssh === LOCAL_SSH)?.name ?? null
}

/** The address of a network's part on a host: the home part keeps the network's, `network/lan@b` else. */
export function partAddress(network: Pick<Network, 'address' | 'home'>, host: string): string {
  return host === network.home ? network.address : `${network.address}@${host}`
}

/** What the control plane learnt of a host before planning: the link that holds its underlay address. */
export interface HostFacts {
  readonly underlayDev: string | null
}

/**
 * One host's part of a lab that spans hosts: its VMs with their taps and disks, and its part of
 * each network it has a NIC on (or is the home of). The home part of a network is the network as
 * written (gateway address, dnsmasq, NAT); the others are a bridge only. A network on several
 * hosts gets a VXLAN device on each, with a forwarding entry per peer and per NIC elsewhere. The
 * planner, the executor and the step handlers then work on the part as on any lab.
 */
export function partOn(topology: Topology, host: string, facts: ReadonlyMap<string, HostFacts>): Topology {
  const vms = topology.vms.filter((vm) => vm.host === host)
  const here = new Set(vms.map((vm) => vm.name))
  const taps = topology.taps.filter((tap) => here.has(tap.vm))
  const used = new Set(vms.flatMap((vm) => [vm.bootDisk, ...vm.disks]))
  const anyUser = new Set(topology.vms.flatMap((vm) => [vm.bootDisk, ...vm.disks]))
  // A disk no VM uses lives on the first host.
  const disks = topology.disks.filter(
    (d: Disk) => used.has(d.address) || (!anyUser.has(d.address) && host === topology.hosts[0]?.name),
  )
  const underlay = new Map(topology.hosts.map((h) => [h.name, h.underlay]))
  const vmHost = new Map(topology.vms.map((vm) => [vm.name, vm.host]))
  const networks = topology.networks
    .filter((n) => n.hosts.includes(host))
    .map((n): Network => {
      const vxlan =
        n.hosts.length > 1
          ? {
              device: hostInterfaceName('vxlan', topology.lab, n.name),
              vni: n.vni!,
              port: n.vxlanPort,
              local: underlay.get(host)!,
              dev: facts.get(host)?.underlayDev ?? '',
              peers: n.hosts.filter((h) => h !== host).map((h) => underlay.get(h)!),
              macs: topology.taps
                .filter((t) => t.network === n.name && vmHost.get(t.vm) !== host)
                .map((t) => ({ mac: t.mac, dst: underlay.get(vmHost.get(t.vm)!)! }))
                .sort((a, b) => (a.mac < b.mac ? -1 : 1)),
            }
          : null
      if (host === n.home) return { ...n, vxlan }
      return {
        ...n,
        address: partAddress(n, host),
        cidr: null,
        hostAddress: null,
        cidr6: null,
        hostAddress6: null,
        dhcp: false,
        dhcpHosts: [],
        dhcpRange: null,
        dhcp6Range: null,
        nat: false,
        vxlan,
      }
    })
  return {
    ...topology,
    host,
    networks,
    disks,
    taps,
    vms,
    checks: topology.checks.filter((c) => here.has(c.vm)),
  }
}
