import { broadcast, contains, firstHost, formatCidr, parseCidr, parseIp } from '../lib/ipv4.js'
import { contains6, firstHost6, formatCidr6, formatIp6, parseCidr6, parseIp6 } from '../lib/ipv6.js'
import { didYouMean } from '../lib/suggest.js'
import { DURATION_HINT, parseDuration, parseSize, SIZE_HINT } from '../lib/units.js'
import { derivedVni, interfaceNameProblem } from '../model/names.js'
import { defaultHost, LOCAL_SSH } from '../model/placement.js'
import { type PortSpec, parsePort, samePort } from '../model/ports.js'
import { formatPath, type KeyPath } from './load.js'
import { entriesOf, isRecord } from './raw.js'
import type { Finding } from './schema-check.js'

/**
 * What JSON Schema cannot say: cross-references, duplicates, addresses inside their
 * networks, units, and strings that would be unsafe on a host command line. It reads
 * the raw document defensively, so that it can run (and report) next to schema errors.
 */
export function checkSemantics(data: unknown): Finding[] {
  if (!isRecord(data)) return []
  const findings: Finding[] = []
  const problem = (path: KeyPath, message: string, at: 'key' | 'value' = 'value') =>
    findings.push({ path, at, message })

  checkStrings(data, [], problem)
  const defaults = isRecord(data.defaults) ? data.defaults : {}
  checkSize(defaults.memory, ['defaults', 'memory'], problem, { wholeMiB: true })
  checkSize(defaults.disk_size, ['defaults', 'disk_size'], problem)
  checkDuration(defaults.shutdown_timeout, ['defaults', 'shutdown_timeout'], problem)
  checkDuration(data.ttl, ['ttl'], problem)
  const vmNames = entriesOf(data.vms).map(([name]) => name)
  for (const [name, check] of entriesOf(data.checks)) {
    const at = (key: string): KeyPath => ['checks', name, key]
    checkDuration(check.interval, at('interval'), problem)
    checkDuration(check.timeout, at('timeout'), problem)
    if (typeof check.vm !== 'string') continue
    const vm = entriesOf(data.vms).find(([n]) => n === check.vm)?.[1]
    if (!vm) problem(at('vm'), `unknown VM "${check.vm}"${didYouMean(check.vm, vmNames)}`)
    else if (vm.cloud_init === undefined)
      problem(
        at('vm'),
        `vm "${check.vm}" has no cloud_init, so kvmctl cannot log in to run the check: add cloud_init (even cloud_init: {})`,
      )
  }

  const images = entriesOf(data.images)
  for (const [name, image] of images) checkImage(name, image, problem)

  const networks = new Map(entriesOf(data.networks))
  const cidrs = checkNetworks(networks, problem)

  const disks = new Map(entriesOf(data.disks))
  for (const [name, disk] of disks) checkSize(disk.size, ['disks', name, 'size'], problem)

  const imageNames = images.map(([name]) => name)
  const macs = new Map<string, KeyPath>()
  const ips = new Map<string, KeyPath>()
  const diskUsers = new Map<string, KeyPath>()
  /** Every port forward of the lab so far: a host port is forwarded once. */
  const forwards: { port: PortSpec; path: KeyPath }[] = []
  /** The NICs on each p2p network: a wire has exactly two ends. */
  const wireEnds = new Map<string, KeyPath[]>()
  for (const [vmName, vm] of entriesOf(data.vms)) {
    const at = (...rest: (string | number)[]): KeyPath => ['vms', vmName, ...rest]
    if (typeof vm.image === 'string' && !imageNames.includes(vm.image)) {
      problem(at('image'), `unknown image "${vm.image}"${didYouMean(vm.image, imageNames)}`)
    }
    const image = typeof vm.image === 'string' ? images.find(([name]) => name === vm.image)?.[1] : undefined
    const cmdline = [image?.cmdline, vm.cmdline].filter((c) => typeof c === 'string').join(' ')
    if (Buffer.byteLength(cmdline) > KERNEL_CMDLINE_MAX) {
      problem(
        at(vm.cmdline !== undefined ? 'cmdline' : 'image'),
        `the kernel command line would be ${Buffer.byteLength(cmdline)} bytes (the image's and the VM's cmdline); Linux takes at most ${KERNEL_CMDLINE_MAX}`,
      )
    }
    if (
      isRecord(vm.ready) &&
      vm.ready.ssh !== undefined &&
      vm.ready.ssh !== false &&
      vm.cloud_init === undefined
    ) {
      problem(
        at('ready', 'ssh'),
        "ready.ssh logs in with the lab's SSH key, which a VM gets through cloud-init: add a cloud_init block (even cloud_init: {}) or drop ready.ssh",
      )
    }
    checkSecureBoot(vm, image ?? {}, at, problem)
    checkSize(vm.memory, at('memory'), problem, { wholeMiB: true })
    checkSize(vm.disk_size, at('disk_size'), problem)
    checkDuration(vm.shutdown_timeout, at('shutdown_timeout'), problem)
    if (isRecord(vm.ready)) {
      checkDuration(vm.ready.timeout, at('ready', 'timeout'), problem)
      if (typeof vm.ready.serial === 'string') {
        try {
          new RegExp(vm.ready.serial)
        } catch (error) {
          problem(at('ready', 'serial'), `not a valid regular expression: ${(error as Error).message}`)
        }
      }
    }
    const nics = Array.isArray(vm.nics) ? vm.nics : []
    nics.forEach((nic: unknown, index: number) => {
      if (!isRecord(nic)) return
      const nicAt = (key: string) => at('nics', index, key)
      const networkName = nic.network
      const network = typeof networkName === 'string' ? networks.get(networkName) : undefined
      if (typeof networkName === 'string' && !network) {
        problem(
          nicAt('network'),
          `unknown network "${networkName}"${didYouMean(networkName, networks.keys())}`,
        )
      }
      if (nic.jitter !== undefined && nic.delay === undefined)
        problem(nicAt('jitter'), 'jitter varies a delay: add delay next to it')
      for (const key of ['delay', 'jitter']) checkDuration(nic[key], nicAt(key), problem)
      if (typeof nic.mac === 'string') {
        checkMac(nic.mac, nicAt('mac'), problem)
        const mac = nic.mac.toLowerCase()
        const first = macs.get(mac)
        if (first) problem(nicAt('mac'), `duplicate MAC ${mac}: ${pathText(first)} has it already`)
        else macs.set(mac, nicAt('mac'))
      }
      if (typeof nic.ip6 === 'string' && typeof networkName === 'string' && network) {
        const ip6 = parseIp6(nic.ip6)
        const cidr6 = typeof network.cidr6 === 'string' ? parseCidr6(network.cidr6) : null
        if (ip6 === null) problem(nicAt('ip6'), `"${nic.ip6}" is not an IPv6 address`)
        else if (typeof network.cidr6 !== 'string')
          problem(
            nicAt('ip6'),
            `network "${networkName}" has no cidr6, so a NIC on it cannot have an ip6; add a cidr6 to networks.${networkName}`,
          )
        else if (cidr6 && !contains6(cidr6, ip6))
          problem(nicAt('ip6'), `${nic.ip6} is outside network "${networkName}" (${formatCidr6(cidr6)})`)
        else if (cidr6 && (ip6 === cidr6.network || ip6 === firstHost6(cidr6)))
          problem(nicAt('ip6'), `${nic.ip6} is the network's own or the host's address; use another`)
        else {
          const key = formatIp6(ip6)
          const first = ips.get(key)
          if (first) problem(nicAt('ip6'), `duplicate ip6 ${nic.ip6}: ${pathText(first)} has it already`)
          else ips.set(key, nicAt('ip6'))
        }
      }
      if (typeof nic.ip === 'string' && typeof networkName === 'string' && network) {
        const cidr = cidrs.get(networkName)
        const ip = parseIp(nic.ip)
        if (ip === null) problem(nicAt('ip'), `"${nic.ip}" is not an IPv4 address`)
        else if (typeof network.cidr !== 'string') {
          problem(
            nicAt('ip'),
            `network "${networkName}" has no cidr, so a NIC on it cannot have an ip; add a cidr to networks.${networkName}`,
          )
        } else if (cidr) {
          if (!contains(cidr, ip))
            problem(nicAt('ip'), `${nic.ip} is outside network "${networkName}" (${formatCidr(cidr)})`)
          else if (ip === cidr.network)
            problem(nicAt('ip'), `${nic.ip} is the network address of ${formatCidr(cidr)}`)
          else if (ip === broadcast(cidr))
            problem(nicAt('ip'), `${nic.ip} is the broadcast address of ${formatCidr(cidr)}`)
          else if (ip === firstHost(cidr)) {
            problem(
              nicAt('ip'),
              `${nic.ip} is the host's own address on network "${networkName}"; use another`,
            )
          }
        }
        const first = ips.get(nic.ip)
        if (first) problem(nicAt('ip'), `duplicate ip ${nic.ip}: ${pathText(first)} has it already`)
        else ips.set(nic.ip, nicAt('ip'))
      }
    })
    // The guest's interface names: given ones, eth<index> otherwise; two alike on a VM clash.
    const names = new Map<string, number>()
    nics.forEach((nic: unknown, index: number) => {
      const given = isRecord(nic) && typeof nic.name === 'string' ? nic.name : null
      const name = given ?? `eth${index}`
      const first = names.get(name)
      if (first === undefined) names.set(name, index)
      else {
        const explicit = given !== null ? index : first
        problem(
          at('nics', explicit, 'name'),
          `two NICs of vm "${vmName}" would be ${name} in the guest (nics[${first}] and nics[${index}]); name them apart`,
        )
      }
    })
    nics.forEach((nic: unknown, index: number) => {
      if (isRecord(nic) && typeof nic.network === 'string' && networks.get(nic.network)?.type === 'p2p')
        wireEnds.set(nic.network, [...(wireEnds.get(nic.network) ?? []), at('nics', index)])
    })
    checkPorts(vm, at, networks, forwards, problem)
    checkMounts(vm, vmName, at, problem)
    const attached = Array.isArray(vm.disks) ? vm.disks : []
    attached.forEach((diskName: unknown, index: number) => {
      if (typeof diskName !== 'string') return
      if (!disks.has(diskName)) {
        problem(at('disks', index), `unknown disk "${diskName}"${didYouMean(diskName, disks.keys())}`)
        return
      }
      const first = diskUsers.get(diskName)
      if (first)
        problem(at('disks', index), `disk "${diskName}" is attached twice: ${pathText(first)} has it already`)
      else diskUsers.set(diskName, at('disks', index))
    })
  }
  checkHosts(data, networks, problem)
  for (const [name, network] of networks) {
    const ends = wireEnds.get(name) ?? []
    if (network.type === 'p2p' && ends.length !== 2)
      problem(
        ['networks', name, 'type'],
        `a p2p network joins exactly two NICs; ${ends.length === 0 ? 'none is' : `${ends.length} are`} on it${ends.length > 0 ? ` (${ends.map(pathText).join(', ')})` : ''}: use a bridge network for more`,
      )
  }
  return findings
}

type Report = (path: KeyPath, message: string, at?: 'key' | 'value') => void

/**
 * A lab that spans hosts: every VM on a known host (or one that can be chosen), networks that
 * can span (managed bridges, each host with an underlay address), VNIs apart, and the keys of
 * hosts used only where there are hosts.
 */
function checkHosts(
  data: Record<string, unknown>,
  networks: Map<string, Record<string, unknown>>,
  problem: Report,
) {
  const hosts = entriesOf(data.hosts)
  const names = hosts.map(([name]) => name)
  const chosen = defaultHost(hosts.map(([name, h]) => ({ name, ssh: String(h.ssh) })))
  const locals = hosts.filter(([, h]) => h.ssh === LOCAL_SSH)
  if (locals.length > 1)
    problem(
      ['hosts', locals[1]![0], 'ssh'],
      `hosts "${locals[0]![0]}" and "${locals[1]![0]}" are both this machine (ssh: local); a machine is one host`,
    )
  const unknown = (path: KeyPath, name: unknown) =>
    hosts.length === 0
      ? problem(
          path,
          `${pathText(path)} names a host, but the topology has no hosts: (add hosts:, or remove it)`,
        )
      : typeof name === 'string' && !names.includes(name)
        ? problem(path, `unknown host "${name}"${didYouMean(name, names)}`)
        : undefined
  // The hosts with a NIC on each network, as resolve places them.
  const spans = new Map<string, Set<string>>()
  for (const [vmName, vm] of entriesOf(data.vms)) {
    if (vm.host !== undefined) unknown(['vms', vmName, 'host'], vm.host)
    else if (hosts.length > 1 && chosen === null)
      problem(
        ['vms', vmName],
        `the lab has several hosts and none is this machine (ssh: local): say which runs vm "${vmName}" with host: (one of ${names.join(', ')})`,
        'key',
      )
    const host = typeof vm.host === 'string' ? vm.host : chosen
    if (host === null || hosts.length === 0) continue
    for (const nic of Array.isArray(vm.nics) ? vm.nics : [])
      if (isRecord(nic) && typeof nic.network === 'string')
        spans.set(nic.network, (spans.get(nic.network) ?? new Set()).add(host))
  }
  const vnis = new Map<string, string>()
  for (const [name, network] of networks) {
    if (network.home !== undefined) unknown(['networks', name, 'home'], network.home)
    const on = spans.get(name) ?? new Set<string>()
    if (typeof network.home === 'string') on.add(network.home)
    if (on.size < 2) continue
    const where = [...on].join(', ')
    if (network.type === 'p2p' || typeof network.external === 'string')
      problem(
        ['networks', name, network.type === 'p2p' ? 'type' : 'external'],
        `network "${name}" has NICs on hosts ${where}; ${network.type === 'p2p' ? 'a p2p wire' : 'an external bridge'} is one host's: put its VMs on one host, or make it a bridge network kvmctl manages`,
      )
    for (const host of on) {
      const h = hosts.find(([n]) => n === host)?.[1]
      if (h && h.underlay === undefined)
        problem(
          ['hosts', host],
          `host "${host}" needs an underlay address: network "${name}" spans hosts ${where}, joined by VXLAN between their underlay addresses`,
          'key',
        )
    }
    const vni = `${network.vni ?? derivedVni(String(data.name), name)}/${network.vxlan_port ?? 4789}`
    const other = vnis.get(vni)
    if (other)
      problem(
        ['networks', name, network.vni !== undefined ? 'vni' : 'vxlan_port'],
        `network "${name}" would have the VNI and port of network "${other}" (${vni.replace('/', ' on port ')}); give one of them another vni:`,
      )
    vnis.set(vni, name)
  }
}

/**
 * ports: numbers in range, a NIC with an address to forward to (the first on a network with a
 * cidr), and no host port forwarded twice in the lab.
 */
function checkPorts(
  vm: Record<string, unknown>,
  at: (...rest: (string | number)[]) => KeyPath,
  networks: Map<string, Record<string, unknown>>,
  forwards: { port: PortSpec; path: KeyPath }[],
  problem: Report,
) {
  if (!Array.isArray(vm.ports) || vm.ports.length === 0) return
  const nics = (Array.isArray(vm.nics) ? vm.nics : []).filter(isRecord)
  const index = nics.findIndex((n) => typeof n.network === 'string' && networks.get(n.network)?.cidr)
  vm.ports.forEach((text: unknown, i: number) => {
    const port = typeof text === 'string' ? parsePort(text) : null
    if (!port) return
    const outOfRange = [port.hostPort, port.guestPort].find((p) => p < 1 || p > 65535)
    const first = forwards.find((f) => samePort(f.port, port))
    const why =
      outOfRange !== undefined
        ? `port ${outOfRange} is not between 1 and 65535`
        : port.listen && parseIp(port.listen) === null
          ? `"${port.listen}" is not an IPv4 address`
          : index < 0
            ? "a forward goes to the VM's address on a network with a cidr, and this VM has no NIC on one"
            : typeof nics[index]!.ip !== 'string'
              ? `a forward goes to the VM's address on its first network with a cidr: give nics[${index}] an ip`
              : first
                ? `host port ${port.hostPort}/${port.protocol} is forwarded twice: ${pathText(first.path)} has it already`
                : null
    if (why) problem(at('ports', i), why)
    else forwards.push({ port, path: at('ports', i) })
  })
}

/** mounts: cloud-init mounts them, so the VM needs it; each target once. */
function checkMounts(
  vm: Record<string, unknown>,
  vmName: string,
  at: (...rest: (string | number)[]) => KeyPath,
  problem: Report,
) {
  if (!Array.isArray(vm.mounts) || vm.mounts.length === 0) return
  if (vm.cloud_init === undefined)
    problem(
      at('mounts'),
      `cloud-init mounts the shared folders in the guest: add cloud_init to vm "${vmName}" (even cloud_init: {})`,
    )
  const targets = new Map<string, number>()
  vm.mounts.forEach((m: unknown, i: number) => {
    if (!isRecord(m) || typeof m.target !== 'string') return
    const first = targets.get(m.target)
    if (first !== undefined)
      problem(at('mounts', i, 'target'), `${m.target} is mounted twice (mounts[${first}] has it already)`)
    else targets.set(m.target, i)
  })
}

/** Linux's COMMAND_LINE_SIZE on x86: a longer command line fails QEMU's start, not validation. */
const KERNEL_CMDLINE_MAX = 2048

function checkImage(name: string, image: Record<string, unknown>, problem: Report) {
  const at = (key?: string): KeyPath => (key ? ['images', name, key] : ['images', name])
  const has = (key: string) => image[key] !== undefined
  if (!has('kernel') && !has('path') && !has('url')) {
    problem(at(), `image "${name}" needs a kernel, a path or a url + sha256`, 'key')
  }
  const digests = ['sha256', 'sha512', 'checksums'].filter(has)
  if (has('url') && digests.length === 0) {
    problem(
      at('url'),
      'a url needs a sha256, a sha512 or a checksums url next to it: kvmctl never uses a download it cannot verify',
    )
  }
  if (digests.length > 1)
    problem(at(digests[1]!), `${digests.join(' and ')}: give one way to verify the download`)
  for (const key of digests) if (!has('url')) problem(at(key), `${key} goes with url`)
  if (has('max_size') && !has('url')) problem(at('max_size'), 'max_size goes with url: it caps the download')
  checkSize(image.max_size, at('max_size'), problem)
  if (has('url') && has('path')) problem(at('path'), 'an image has a path or a url, not both')
  for (const key of ['initrd', 'cmdline']) {
    if (has(key) && !has('kernel')) problem(at(key), `${key} needs a kernel in the same image`)
  }
  checkSecureBoot(image, {}, (key) => at(key), problem)
}

/**
 * Secure Boot is OVMF's: it needs firmware uefi, and q35, the only machine on which OVMF's
 * Secure Boot build runs (it guards the variables with SMM). `own` is the VM's (or the image's)
 * keys, `inherited` its image's (or none); the finding goes where the contradiction is written.
 */
function checkSecureBoot(
  own: Record<string, unknown>,
  inherited: Record<string, unknown>,
  at: (key: string) => KeyPath,
  problem: Report,
) {
  const sets = (key: string) => own[key] !== undefined
  const pick = (key: string) => (sets(key) ? own[key] : inherited[key])
  if (pick('secure_boot') !== true) return
  // Where the VM writes one side of the contradiction: there; both from its image: said there.
  const where = (key: string) => at(sets(key) ? key : 'secure_boot')
  const written = (key: string) => sets(key) || sets('secure_boot')
  if (pick('firmware') === 'bios' && written('firmware'))
    problem(
      where('firmware'),
      'secure_boot needs firmware: uefi (Secure Boot is a UEFI feature): drop firmware: bios or secure_boot',
    )
  if (pick('machine') === 'pc' && written('machine'))
    problem(
      where('machine'),
      "secure_boot needs machine: q35: OVMF's Secure Boot build guards its variables with SMM, which it supports on q35 only; drop machine: pc",
    )
}

function checkNetworks(networks: Map<string, Record<string, unknown>>, problem: Report) {
  const cidrs = new Map<string, NonNullable<ReturnType<typeof parseCidr>>>()
  const cidrs6 = new Map<string, NonNullable<ReturnType<typeof parseCidr6>>>()
  for (const [name, network] of networks) {
    const at = (key: string): KeyPath => ['networks', name, key]
    if (typeof network.cidr6 === 'string') {
      const cidr6 = parseCidr6(network.cidr6)
      if (!cidr6) problem(at('cidr6'), `"${network.cidr6}" is not a valid IPv6 cidr, like fd00:10::/64`)
      else if (cidr6.hostBitsSet)
        problem(at('cidr6'), `${network.cidr6} has host bits set; did you mean ${formatCidr6(cidr6)}?`)
      else if (cidr6.prefix !== 64)
        problem(at('cidr6'), `${network.cidr6}: a cidr6 is a /64, as router advertisements and DHCPv6 expect`)
      else if (typeof network.cidr !== 'string')
        problem(at('cidr6'), 'cidr6 goes with a cidr on the same network (kvmctl networks are dual-stack)')
      else {
        for (const [other, otherCidr] of cidrs6)
          if (otherCidr.network === cidr6.network)
            problem(at('cidr6'), `${network.cidr6} is network "${other}"'s cidr6 already`)
        cidrs6.set(name, cidr6)
      }
    }
    if (network.type === 'p2p') {
      for (const key of ['cidr', 'cidr6', 'dhcp', 'nat', 'external', 'l2_protocols']) {
        if (network[key] !== undefined)
          problem(
            at(key),
            `a p2p network is a wire between two NICs, with no bridge and no host address: remove ${key}, or drop type: p2p`,
          )
      }
    } else if (network.l2_protocols !== undefined && typeof network.external === 'string') {
      problem(at('l2_protocols'), "an external bridge is the host's, used as it is: remove l2_protocols")
    }
    if (typeof network.external === 'string') {
      const reason = interfaceNameProblem(network.external)
      if (reason) problem(at('external'), `external bridge name "${network.external}" ${reason}`)
      for (const key of ['cidr', 'cidr6', 'dhcp', 'nat', 'mtu']) {
        if (network[key] !== undefined) {
          problem(
            at(key),
            `an external bridge is used as it is: remove ${key}, or drop external to let kvmctl manage the network`,
          )
        }
      }
    }
    if (typeof network.cidr === 'string') {
      const cidr = parseCidr(network.cidr)
      if (!cidr) problem(at('cidr'), `"${network.cidr}" is not a valid IPv4 cidr, like 10.10.0.0/24`)
      else if (cidr.hostBitsSet)
        problem(at('cidr'), `${network.cidr} has host bits set; did you mean ${formatCidr(cidr)}?`)
      else if (cidr.prefix > 30)
        problem(at('cidr'), `${network.cidr} leaves no room for the host and a VM; use /30 or larger`)
      else {
        for (const [other, otherCidr] of cidrs) {
          if (contains(otherCidr, cidr.network) || contains(cidr, otherCidr.network)) {
            problem(at('cidr'), `${network.cidr} overlaps network "${other}" (${formatCidr(otherCidr)})`)
          }
        }
        cidrs.set(name, cidr)
      }
    } else {
      for (const key of ['dhcp', 'nat']) {
        if (network[key] === true)
          problem(at(key), `${key} needs a cidr on the same network, like cidr: 10.10.0.0/24`)
      }
    }
  }
  return cidrs
}

function checkSize(value: unknown, path: KeyPath, problem: Report, options: { wholeMiB?: boolean } = {}) {
  if (value === undefined || (typeof value !== 'number' && typeof value !== 'string')) return
  const bytes = parseSize(value)
  if (bytes === null) problem(path, `bad size ${JSON.stringify(value)}: ${SIZE_HINT}`)
  else if (bytes <= 0) problem(path, `size must be greater than zero, not ${JSON.stringify(value)}`)
  else if (options.wholeMiB && bytes % 1024 ** 2 !== 0)
    problem(path, `memory must be a whole number of MiB, not ${JSON.stringify(value)}`)
  else if (!options.wholeMiB && bytes % 512 !== 0)
    problem(path, `a disk size must be a multiple of 512 bytes, not ${JSON.stringify(value)}`)
}

function checkDuration(value: unknown, path: KeyPath, problem: Report) {
  if (value === undefined || (typeof value !== 'number' && typeof value !== 'string')) return
  if (parseDuration(value) === null) problem(path, `bad duration ${JSON.stringify(value)}: ${DURATION_HINT}`)
}

function checkMac(mac: string, path: KeyPath, problem: Report) {
  const first = Number.parseInt(mac.slice(0, 2), 16)
  if (first & 1)
    problem(path, `${mac} is a multicast MAC; a NIC needs a unicast one (even first byte, like 52:54:00:...)`)
  else if (/^(00:){5}00$/.test(mac)) problem(path, `${mac} is not a usable MAC`)
}

/** Control characters would corrupt host command lines, config files and the console. */
function checkStrings(value: unknown, path: KeyPath, problem: Report) {
  if (typeof value === 'string') {
    const multiLineAllowed = path.includes('user_data')
    const bad = multiLineAllowed ? /[\u0000-\u0008\u000b-\u001f\u007f]/ : /[\u0000-\u001f\u007f]/
    if (bad.test(value))
      problem(
        path,
        'contains a control character (newline, tab, escape...), which is unsafe to pass to a host command',
      )
  } else if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) checkStrings(item, [...path, index], problem)
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) checkStrings(item, [...path, key], problem)
  }
}

const pathText = formatPath
