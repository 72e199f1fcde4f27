import { dirname, isAbsolute, resolve as resolvePath } from 'node:path'
import {
  CLOUD_INIT_WAIT,
  cloudInitDocuments,
  DEFAULT_SSH_USER,
  userDataUser,
} from '../cloud-init/documents.js'
import { broadcast, type Cidr, cidrSize, firstHost, formatCidr, formatIp, parseCidr } from '../lib/ipv4.js'
import { firstHost6, formatCidr6, formatIp6, parseCidr6, parseIp6 } from '../lib/ipv6.js'
import { formatRate, parseDuration, parseRate, parseSize } from '../lib/units.js'
import { addressOf, bootDiskName, tapName } from '../model/address.js'
import { diskFiles, imageFiles, labDirOf, vmDir } from '../model/layout.js'
import { derivedMac, derivedVni, hostInterfaceName } from '../model/names.js'
import { defaultHost } from '../model/placement.js'
import { parsePort } from '../model/ports.js'
import {
  type CloudInit,
  type Disk,
  type Image,
  L2_PASS_MASK,
  type LabHost,
  type Mount,
  type Network,
  type Tap,
  type Topology,
  type Vm,
} from '../model/types.js'
import type { RawImage, RawNic, RawTopology, RawVm } from './raw.js'

export const DEFAULTS = {
  cpus: 1,
  memory: '256M',
  accel: 'auto',
  /** A blank boot disk for kernel-only images; sparse, so it costs nothing until written. */
  blankBootDisk: '1G',
  /** Seconds. */
  shutdownTimeout: 30,
  readyTimeout: '300s',
  mtu: 1500,
  // A network that spans hosts: a 1500-byte underlay less VXLAN's 50 bytes of headers.
  spanningMtu: 1450,
  vxlanPort: 4789,
  /** The most a url image may download. */
  maxDownload: '64G',
} as const

/** Linux's limit for a unix socket path (sun_path), less the terminating NUL. */
export const UNIX_SOCKET_PATH_MAX = 107

/**
 * A user_data string is a path unless it is text: more than one line, or a cloud-init header
 * (`#cloud-config`, `#!`, `#include`...) on its only line.
 */
export function userDataPath(value: unknown): string | null {
  return typeof value === 'string' && !value.includes('\n') && !value.startsWith('#') ? value : null
}

/** The absolute path a topology-relative path names. */
export function pathFromFile(file: string, path: string): string {
  return isAbsolute(path) ? path : resolvePath(dirname(resolvePath(file)), path)
}

/**
 * Turns a validated raw topology into the model: defaults filled, paths absolute, host
 * names and MACs derived, addresses assigned. Pure: it asks no host, and reads no file; the
 * user data files it needs are given, read, in `files` (by absolute path).
 */
export function resolveTopology(
  raw: RawTopology,
  file: string,
  stateDir: string,
  files: ReadonlyMap<string, string> = new Map(),
): Topology {
  const lab = raw.name
  const labDir = labDirOf(resolvePath(stateDir), lab)
  const fromFile = (p: string) => pathFromFile(file, p)

  const images: Record<string, Image> = {}
  for (const [name, image] of Object.entries(raw.images ?? {})) {
    images[name] = resolveImage(name, image, fromFile, resolvePath(stateDir))
  }

  // What each network's dnsmasq knows of its NICs: fixed ips, and the VM's name on its first NIC there.
  const dhcpHosts = new Map<string, Network['dhcpHosts'][number][]>()
  for (const [vm, spec] of Object.entries(raw.vms ?? {})) {
    for (const [index, nic] of (spec.nics ?? []).entries()) {
      const list = dhcpHosts.get(nic.network) ?? []
      const named = (spec.nics ?? []).findIndex((n) => n.network === nic.network) === index
      list.push({
        mac: nicMac(lab, vm, index, nic),
        ip: nic.ip ?? null,
        ip6: nic.ip6 ? formatIp6(parseIp6(nic.ip6)!) : null,
        name: named ? vm : null,
      })
      dhcpHosts.set(nic.network, list)
    }
  }

  const hosts: LabHost[] = Object.entries(raw.hosts ?? {}).map(([name, host]) => ({
    name,
    ssh: host.ssh,
    underlay: host.underlay ?? null,
    stateDir: host.state_dir ?? null,
    kvmctl: host.kvmctl ?? 'kvmctl',
  }))
  const vmHost = (vm: RawVm): string | null => (hosts.length === 0 ? null : (vm.host ?? defaultHost(hosts)))
  // The hosts with a NIC on each network, in the order of hosts:.
  const networkHosts = new Map<string, string[]>()
  for (const vm of Object.values(raw.vms ?? {})) {
    const host = vmHost(vm)
    if (host === null) continue
    for (const nic of vm.nics ?? [])
      networkHosts.set(nic.network, [...(networkHosts.get(nic.network) ?? []), host])
  }
  const hostsOf = (network: string) =>
    hosts.map((h) => h.name).filter((h) => networkHosts.get(network)?.includes(h))

  const networks: Network[] = Object.entries(raw.networks ?? {}).map(([name, network]) => {
    const cidr = network.cidr ? parseCidr(network.cidr) : null
    const cidr6 = network.cidr6 ? parseCidr6(network.cidr6) : null
    const nicHosts = hostsOf(name)
    const home = hosts.length === 0 ? null : (network.home ?? nicHosts[0] ?? hosts[0]!.name)
    const spannedHosts = hosts.map((h) => h.name).filter((h) => h === home || nicHosts.includes(h))
    const spans = spannedHosts.length > 1
    return {
      type: 'network',
      address: addressOf('network', name),
      name,
      bridge: network.external ?? hostInterfaceName('bridge', lab, name),
      external: network.external !== undefined,
      p2p: network.type === 'p2p',
      groupFwdMask: network.l2_protocols === 'pass' ? L2_PASS_MASK : 0,
      cidr: cidr ? formatCidr(cidr) : null,
      hostAddress: cidr ? `${formatIp(firstHost(cidr))}/${cidr.prefix}` : null,
      cidr6: cidr6 ? formatCidr6(cidr6) : null,
      hostAddress6: cidr6 ? `${formatIp6(firstHost6(cidr6))}/${cidr6.prefix}` : null,
      dhcp: network.dhcp ?? false,
      dhcpHosts: network.dhcp ? (dhcpHosts.get(name) ?? []).sort((a, b) => (a.mac < b.mac ? -1 : 1)) : [],
      domain: `${lab}.internal`,
      dhcpRange: cidr && network.dhcp ? dhcpRange(cidr) : null,
      dhcp6Range:
        cidr6 && network.dhcp
          ? [formatIp6(cidr6.network + 0x1000n), formatIp6(cidr6.network + 0x1fffn)]
          : null,
      nat: network.nat ?? false,
      mtu: network.external ? null : (network.mtu ?? (spans ? DEFAULTS.spanningMtu : DEFAULTS.mtu)),
      home,
      hosts: spannedHosts,
      vni: spans ? (network.vni ?? derivedVni(lab, name)) : null,
      vxlanPort: network.vxlan_port ?? DEFAULTS.vxlanPort,
      vxlan: null,
    }
  })
  const networkByName = new Map(networks.map((n) => [n.name, n]))

  const disks: Disk[] = Object.entries(raw.disks ?? {}).map(([name, disk]) => {
    const format = disk.format ?? 'qcow2'
    return {
      type: 'disk',
      address: addressOf('disk', name),
      name,
      path: diskFiles(labDir, name, format).image,
      format,
      sizeBytes: parseSize(disk.size)!,
      protect: disk.protect ?? false,
      vm: null,
      image: null,
      backingFile: null,
      backingFormat: null,
    }
  })

  const taps: Tap[] = []
  const vms: Vm[] = []
  const d = raw.defaults ?? {}
  for (const [name, vm] of Object.entries(raw.vms ?? {})) {
    const image = images[vm.image]!
    const boot = bootDisk(labDir, name, vm, image, d.disk_size)
    disks.push(boot)
    const vmTaps = (vm.nics ?? []).map((nic, index): Tap => {
      const network = networkByName.get(nic.network)!
      return {
        type: 'tap',
        address: addressOf('tap', tapName(name, index)),
        name: tapName(name, index),
        vm: name,
        index,
        guestName: nic.name ?? `eth${index}`,
        device: hostInterfaceName('tap', lab, tapName(name, index)),
        network: network.name,
        bridge: network.p2p ? null : network.bridge,
        peer: network.p2p ? p2pPeer(raw, lab, name, index) : null,
        mac: nicMac(lab, name, index, nic),
        ip: nic.ip ?? null,
        ip6: nic.ip6 ? formatIp6(parseIp6(nic.ip6)!) : null,
        mtu: network.mtu,
        rate: nic.rate ? formatRate(parseRate(nic.rate)!) : null,
        netem: netemOptions(nic),
      }
    })
    taps.push(...vmTaps)
    const runDir = vmDir(labDir, name)
    const mounts = (vm.mounts ?? []).map((m, index) => ({
      source: fromFile(m.source),
      target: m.target,
      readOnly: m.readonly ?? false,
      tag: `mount${index}`,
    }))
    const cloudInit = vm.cloud_init
      ? resolveCloudInit(name, vm.cloud_init, vmTaps, networkByName, files, fromFile, mounts)
      : null
    // Forwards go to the VM's first NIC on a network with a cidr; validation saw it has an ip.
    const forwardNic = vmTaps.find((t) => networkByName.get(t.network)?.cidr)
    const ports = forwardNic?.ip
      ? (vm.ports ?? []).map((text) => ({
          ...parsePort(text)!,
          guestIp: forwardNic.ip!,
          bridge: forwardNic.bridge!,
        }))
      : []
    vms.push({
      type: 'vm',
      address: addressOf('vm', name),
      name,
      host: vmHost(vm),
      cpus: vm.cpus ?? d.cpus ?? DEFAULTS.cpus,
      memoryMiB: parseSize(vm.memory ?? d.memory ?? DEFAULTS.memory)! / 1024 ** 2,
      accel: vm.accel ?? d.accel ?? DEFAULTS.accel,
      ...firmwareOf(vm, image),
      image: vm.image,
      kernel: image.kernel,
      initrd: image.initrd,
      cmdline:
        [image.cmdline, vm.cmdline].filter((s) => s !== null && s !== undefined && s !== '').join(' ') ||
        null,
      bootDisk: boot.address,
      disks: (vm.disks ?? []).map((disk) => addressOf('disk', disk)),
      nics: vmTaps.map((t) => ({
        tap: t.address,
        device: t.device,
        network: t.network,
        mac: t.mac,
        name: t.guestName,
        link: vm.nics?.[t.index]?.link ?? 'up',
        mtu: t.mtu,
      })),
      cloudInit: cloudInit,
      runAs: vm.run_as ?? d.run_as ?? null,
      labels: vm.labels ?? {},
      ports,
      mounts,
      sshUser:
        vm.ssh_user ?? d.ssh_user ?? (cloudInit && userDataUser(cloudInit.userData)) ?? DEFAULT_SSH_USER,
      state: vm.state ?? 'running',
      ready: vm.ready
        ? {
            serial: vm.ready.serial ?? null,
            tcp: vm.ready.tcp ?? null,
            ssh:
              vm.ready.ssh === true
                ? CLOUD_INIT_WAIT
                : typeof vm.ready.ssh === 'string'
                  ? vm.ready.ssh
                  : null,
            timeoutSeconds: parseDuration(vm.ready.timeout ?? DEFAULTS.readyTimeout)!,
          }
        : null,
      shutdownTimeoutSeconds: parseDuration(
        vm.shutdown_timeout ?? d.shutdown_timeout ?? DEFAULTS.shutdownTimeout,
      )!,
      runDir,
    })
  }

  const ttlSeconds = raw.ttl !== undefined ? parseDuration(raw.ttl) : null
  const checks = Object.entries(raw.checks ?? {}).map(([name, check]) => ({
    name,
    vm: check.vm,
    run: check.run,
    retries: check.retries ?? 0,
    intervalSeconds: parseDuration(check.interval ?? '2s')!,
    timeoutSeconds: parseDuration(check.timeout ?? '60s')!,
  }))
  return {
    lab,
    hosts,
    host: null,
    file,
    stateDir: resolvePath(stateDir),
    labDir,
    ttlSeconds,
    images,
    networks,
    disks,
    taps,
    vms,
    checks,
  }
}

function resolveCloudInit(
  vmName: string,
  raw: NonNullable<RawVm['cloud_init']>,
  taps: readonly Tap[],
  networks: ReadonlyMap<string, Network>,
  files: ReadonlyMap<string, string>,
  fromFile: (p: string) => string,
  mounts: readonly Mount[],
): CloudInit {
  const path = userDataPath(raw.user_data)
  const userData = path !== null ? files.get(fromFile(path)) : raw.user_data
  if (path !== null && userData === undefined)
    throw new Error(`user data file ${fromFile(path)} was not read`)
  const nics = taps.map((tap) => {
    const network = networks.get(tap.network)!
    const prefix = network.cidr?.split('/')[1]
    return {
      name: tap.guestName,
      mac: tap.mac,
      address: tap.ip && prefix ? `${tap.ip}/${prefix}` : null,
      dhcp: network.dhcp,
      gateway: network.nat && network.hostAddress ? network.hostAddress.split('/')[0]! : null,
      address6: tap.ip6 && !network.dhcp && network.cidr6 ? `${tap.ip6}/64` : null,
      dhcp6: network.dhcp && network.cidr6 !== null,
    }
  })
  return cloudInitDocuments(
    vmName,
    { userData, metaData: raw.meta_data, networkConfig: raw.network_config, sensitive: raw.sensitive },
    nics,
    mounts,
  )
}

/** A NIC's MAC: the one the file gives, or a stable one derived from lab, VM and NIC index. */
function nicMac(lab: string, vm: string, index: number, nic: RawNic): string {
  return (nic.mac ?? derivedMac(lab, vm, index)).toLowerCase()
}

/** The upper half of the network, below its broadcast address: reservations usually sit lower. */
function dhcpRange(cidr: Cidr): [string, string] {
  const size = cidrSize(cidr)
  return [formatIp(cidr.network + Math.max(2, size / 2)), formatIp(broadcast(cidr) - 1)]
}

/** netem's options in tc's words, in a fixed order, or null when the NIC asks for none. */
function netemOptions(nic: RawNic): string | null {
  const words: string[] = []
  if (nic.delay !== undefined) {
    words.push('delay', `${parseDuration(nic.delay)! * 1000}ms`)
    if (nic.jitter !== undefined) words.push(`${parseDuration(nic.jitter)! * 1000}ms`)
  }
  if (nic.loss !== undefined) words.push('loss', nic.loss)
  return words.length > 0 ? words.join(' ') : null
}

function resolveImage(
  name: string,
  image: RawImage,
  fromFile: (p: string) => string,
  stateDir: string,
): Image {
  const digest = image.sha256
    ? `sha256:${image.sha256.toLowerCase()}`
    : image.sha512
      ? `sha512:${image.sha512.toLowerCase()}`
      : null
  return {
    name,
    kernel: image.kernel ? fromFile(image.kernel) : null,
    initrd: image.initrd ? fromFile(image.initrd) : null,
    cmdline: image.cmdline ?? null,
    // A downloaded image lives in the host's content-addressed cache, shared by every lab.
    path: image.path ? fromFile(image.path) : digest ? imageFiles(stateDir, digestHex(digest)).path : null,
    url: image.url ?? null,
    digest,
    checksums: image.checksums ?? null,
    maxSizeBytes: parseSize(image.max_size ?? DEFAULTS.maxDownload)!,
    firmware: image.firmware ?? null,
    machine: image.machine ?? null,
    secureBoot: image.secure_boot ?? null,
    tpm: image.tpm ?? null,
  }
}

function bootDisk(
  labDir: string,
  vmName: string,
  vm: RawVm,
  image: Image,
  defaultSize: string | number | undefined,
): Disk {
  const name = bootDiskName(vmName)
  const size = vm.disk_size ?? defaultSize
  return {
    type: 'disk',
    address: addressOf('disk', name),
    name,
    path: diskFiles(labDir, name, 'qcow2').image,
    format: 'qcow2',
    // An overlay without disk_size keeps its image's size, known only on the host.
    sizeBytes:
      size !== undefined
        ? parseSize(size)!
        : image.path || image.url
          ? 0
          : parseSize(DEFAULTS.blankBootDisk)!,
    protect: false,
    vm: vmName,
    image: image.name,
    backingFile: image.path,
    backingFormat: null,
  }
}

/** The hexadecimal digest of `sha256:HEX` or `sha512:HEX`: the image's name in the cache. */
export const digestHex = (digest: string): string => digest.slice(digest.indexOf(':') + 1)

/**
 * The topology with the digests that images with `checksums` got from their SUMS files (observed
 * on the host): their place in the image cache, and the boot disks made on them. Pure.
 */
export function settleImages(topology: Topology, digests: Readonly<Record<string, string>> = {}): Topology {
  const pending = Object.values(topology.images).filter((i) => i.checksums && !i.digest && digests[i.name])
  if (pending.length === 0) return topology
  const images = { ...topology.images }
  for (const image of pending) {
    const digest = digests[image.name]!
    images[image.name] = { ...image, digest, path: imageFiles(topology.stateDir, digestHex(digest)).path }
  }
  const disks = topology.disks.map((d) =>
    d.image && images[d.image] !== topology.images[d.image]
      ? { ...d, backingFile: images[d.image]!.path }
      : d,
  )
  return { ...topology, images, disks }
}

/**
 * A VM's firmware, machine, Secure Boot and TPM: each its own, else its image's. The defaults
 * follow from one another: Secure Boot implies uefi, and uefi implies q35 (the checks refuse
 * Secure Boot with bios or pc).
 */
function firmwareOf(vm: RawVm, image: Image): Pick<Vm, 'firmware' | 'machine' | 'secureBoot' | 'tpm'> {
  const secureBoot = vm.secure_boot ?? image.secureBoot ?? false
  const firmware = vm.firmware ?? image.firmware ?? (secureBoot ? 'uefi' : 'bios')
  return {
    firmware,
    machine: vm.machine ?? image.machine ?? (firmware === 'uefi' ? 'q35' : 'pc'),
    secureBoot,
    tpm: vm.tpm ?? image.tpm ?? false,
  }
}

/** The other end of a p2p network that NIC `index` of `vm` is on (validation ensures there is one). */
function p2pPeer(raw: RawTopology, lab: string, vm: string, index: number): Tap['peer'] {
  const network = raw.vms?.[vm]?.nics?.[index]?.network
  for (const [other, spec] of Object.entries(raw.vms ?? {}))
    for (const [i, nic] of (spec.nics ?? []).entries())
      if (nic.network === network && !(other === vm && i === index)) {
        const name = tapName(other, i)
        return { address: addressOf('tap', name), device: hostInterfaceName('tap', lab, name) }
      }
  return null
}
