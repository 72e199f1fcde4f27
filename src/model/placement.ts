import { imageFiles } from './layout.js'
import { hostInterfaceName } from './names.js'
import type { Disk, FilePut, Image, LabHost, Network, Topology } from './types.js'

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

/** The keys of an image that name a file of this machine (a url image's path is the cache's). */
const FILE_KEYS = ['path', 'kernel', 'initrd'] as const

/** The files of this machine that a part's VMs boot from: their images' paths, kernels and initrds. */
export function bootFiles(part: Topology): { what: string; source: string }[] {
  const used = new Set(part.vms.map((vm) => vm.image))
  return Object.values(part.images)
    .filter((image) => used.has(image.name))
    .flatMap((image) =>
      FILE_KEYS.flatMap((key) => {
        const source = image[key]
        return source === null || (key === 'path' && image.url)
          ? []
          : [{ what: `image/${image.name} ${key}`, source }]
      }),
    )
}

/**
 * The part of a host that is not this machine, its boot files in that host's image cache: each
 * file the controller hashed (`digests`, by its path here) is named there by its sha256, in the
 * images, the VMs' kernels and initrds and the boot disks' backing files; `puts` lists what the
 * controller copies. A file not hashed (it could not be read here) stays as the topology names it.
 */
export function placeFiles(
  part: Topology,
  digests: ReadonlyMap<string, { readonly sha256: string; readonly bytes: number }>,
): Topology {
  const puts = new Map<string, FilePut>()
  const placed = (what: string, source: string | null): string | null => {
    const digest = source === null ? undefined : digests.get(source)
    if (source === null || !digest) return source
    const { path } = imageFiles(part.stateDir, digest.sha256)
    if (!puts.has(path)) puts.set(path, { what, source, sha256: digest.sha256, bytes: digest.bytes, path })
    return path
  }
  const used = new Set(bootFiles(part).map((f) => f.what))
  const images: Record<string, Image> = { ...part.images }
  for (const image of Object.values(part.images)) {
    const at = (key: (typeof FILE_KEYS)[number]) =>
      used.has(`image/${image.name} ${key}`) ? placed(`image/${image.name} ${key}`, image[key]) : image[key]
    images[image.name] = { ...image, path: at('path'), kernel: at('kernel'), initrd: at('initrd') }
  }
  return {
    ...part,
    images,
    vms: part.vms.map((vm) => {
      const image = vm.image === null ? undefined : images[vm.image]
      return image ? { ...vm, kernel: image.kernel, initrd: image.initrd } : vm
    }),
    disks: part.disks.map((d) =>
      d.image && d.backingFile !== null && images[d.image] ? { ...d, backingFile: images[d.image]!.path } : d,
    ),
    puts: [...puts.values()],
  }
}
