import { existsSync, statSync } from 'node:fs'
import { readFile, statfs } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { settleImages } from '../config/resolve.js'
import { unreadableByInvoker } from '../lib/invoker.js'
import { contains, formatCidr, formatIp, parseCidr } from '../lib/ipv4.js'
import { formatCidr6, parseCidr6 } from '../lib/ipv6.js'
import { formatSize } from '../lib/units.js'
import { addressOf, parseAddress } from '../model/address.js'
import {
  diskFiles,
  diskOfFile,
  diskRecordFile,
  labFiles,
  resourceOfDir,
  vmDir,
  vmFiles,
} from '../model/layout.js'
import { type LabOwner, ownershipMarker, parseOwnershipMarker } from '../model/names.js'
import type { HostCapacity, HostSnapshot, Observed, ObservedResource } from '../model/snapshot.js'
import type { Address, Tap, Topology, VmFields } from '../model/types.js'
import { vxlanMarkerAddress, vxlanText } from '../model/vxlan.js'
import { l2ProtocolsText } from '../plan/fields.js'
import { checkStateDir } from './boundary.js'
import { imageDigests } from './checksums.js'
import { observeDhcp } from './dhcp-ops.js'
import { onPath, run } from './exec.js'
import { forwardsInComments, observeFirewall, ruleComment } from './firewall-ops.js'
import { describeOwner, type Link, labNameTakenBy, linkConflicts, listLinks, ownedLinks } from './links.js'
import { portProblems } from './port-ops.js'
import { isOurProcess, labQemus, readPidFile } from './process.js'
import { type DiskFileInfo, readDiskFileOrNull } from './qcow2.js'
import { OVMF, ovmfOf } from './qemu-argv.js'
import { qmpCommand } from './qmp.js'
import { hostResolvers } from './resolvers.js'
import { kernelHasQdisc, observeShaping } from './shaping-ops.js'
import {
  type DiskRecord,
  diskRecordProblem,
  listDir,
  readRecord,
  type VmRecord,
  vmRecordProblem,
} from './state.js'
import { SWTPM, swtpmRunning } from './tpm-ops.js'
import { listVxlanFdb } from './vxlan-ops.js'
import { observeWires } from './wire-ops.js'

/**
 * Reads what the host has for a lab, without changing anything: one `ip` call for every
 * bridge and tap, the lab's state directory for disks and VMs (disk headers read directly,
 * each VM's process checked in /proc and asked over QMP), all in parallel.
 */
export async function observe(
  topology: Topology,
  options: { everyQemu?: boolean } = {},
): Promise<HostSnapshot> {
  checkStateDir(topology.stateDir, topology.labDir)
  // In the order that keeps the cores busy: the QMP questions go out first, so that the QEMUs
  // answer on the other core while `ip` and `nft` start and the state directory is read here.
  const vmsFound = observeVms(topology.labDir, options.everyQemu === true)
  const linksListed = listLinks()
  const firewallListed = observeFirewall(topology.lab)
  const disks = observeDisks(topology)
  const dhcp = observeDhcpServers(topology.labDir)
  const [links, vms, capacity, firewall, unknownUsers, routes, sums, ports] = await Promise.all([
    linksListed,
    vmsFound.vms,
    observeCapacity(topology.stateDir),
    firewallListed,
    missingUsers(topology),
    readRoutes(),
    imageDigests(topology),
    portProblems(topology),
  ])
  const images = imageFiles(settleImages(topology, sums.digests))
  const [shaping, wires, fdb] = await Promise.all([
    observeLabShaping(topology, links),
    observeLabWires(topology, links),
    observeLabFdb(topology, links),
  ])
  const resources: Record<Address, ObservedResource> = {}
  for (const r of [
    ...observeLinks(links, topology, { firewall, shaping, wires, dhcp, fdb }),
    ...disks.resources,
  ])
    resources[r.address] = r
  // A VM whose record is lost may use any of the lab's disks and taps: it is stopped before they go.
  const disksAndTaps = Object.values(resources)
    .filter((r) => r.type === 'disk' || r.type === 'tap')
    .map((r) => r.address)
  const forwards = forwardsInComments(firewall ?? [])
  for (const found of vms) {
    // A VM's forwards are what the lab's firewall has for it, whatever its record says.
    const vm = { ...found, fields: { ...found.fields, ports: forwards.get(found.name) ?? [] } }
    const checked = withTapCheck(vm, links)
    resources[vm.address] = checked.handle.record === 'ok' ? checked : { ...checked, uses: disksAndTaps }
  }
  const wanted = [
    ...topology.networks
      .filter((n) => !n.external && !n.p2p)
      .map((n) => ({ address: n.address, hostName: n.bridge, kind: 'bridge' })),
    ...topology.taps.map((t) => ({ address: t.address, hostName: t.device, kind: 'tap' })),
    ...topology.networks.flatMap((n) =>
      n.vxlan
        ? [
            {
              address: n.address,
              hostName: n.vxlan.device,
              kind: 'vxlan device',
              marker: vxlanMarkerAddress(n.address),
            },
          ]
        : [],
    ),
  ]
  return {
    lab: topology.lab,
    resources,
    conflicts: linkConflicts(links, topology, wanted),
    problems: [
      ...externalBridgeProblems(topology, links),
      ...overlappingCidrs(topology, links, routes),
      ...labNameProblems(topology, links),
      ...vniClashes(topology, links),
      ...sums.problems,
      ...images.problems,
      ...disks.problems,
      ...damagedDisks(disks.resources),
      ...unknownUsers,
      ...ports,
      ...(await missingQdiscs(topology, shaping)),
    ],
    capacity,
    downloads: images.downloads,
    puts: images.puts,
    digests: sums.digests,
    notes: [...disks.notes, ...vmsFound.notes],
    resolvers: topology.networks.some((n) => n.nat && n.dhcp) ? hostResolvers() : null,
  }
}

/** An external network's bridge must exist, be a bridge, and be the host's own, not a lab's. */
function externalBridgeProblems(
  topology: Topology,
  links: readonly Link[],
): { address: Address; message: string }[] {
  const byName = new Map(links.map((l) => [l.name, l]))
  return topology.networks.flatMap((n) => {
    if (!n.external) return []
    const link = byName.get(n.bridge)
    const marker = parseOwnershipMarker(link?.alias)
    const message = !link
      ? `external bridge "${n.bridge}" does not exist on this host; create it first (ip link add ${n.bridge} type bridge) or fix the name`
      : link.kind !== 'bridge'
        ? `external "${n.bridge}" is not a bridge on this host`
        : marker
          ? `external "${n.bridge}" is a bridge kvmctl made for ${describeOwner(marker)}: labs are kept apart, and an external network names one of the host's own bridges`
          : null
    return message ? [{ address: n.address, message }] : []
  })
}

/** The forwarding entries of the lab's VXLAN devices: one `bridge` call, only when it has any. */
async function observeLabFdb(topology: Topology, links: readonly Link[]): Promise<Map<string, string[]>> {
  const owned = [...ownedLinks(links, topology).values()].some((l) => l.kind === 'vxlan')
  return owned ? listVxlanFdb() : new Map()
}

/**
 * A spanning network's VNI and port must be free on this host: the kernel takes a VNI once per
 * UDP port, and a device of somebody else with it would receive the lab's frames.
 */
function vniClashes(topology: Topology, links: readonly Link[]): { address: Address; message: string }[] {
  return topology.networks.flatMap((n) => {
    const v = n.vxlan
    if (!v) return []
    const holder = links.find(
      (l) =>
        l.vxlan?.vni === v.vni &&
        l.vxlan.port === v.port &&
        l.alias !== ownershipMarker(topology, vxlanMarkerAddress(n.address)),
    )
    if (!holder) return []
    const marker = parseOwnershipMarker(holder.alias)
    return [
      {
        address: n.address,
        message: `VNI ${v.vni} on UDP port ${v.port} is taken on this host by VXLAN device ${holder.name}${marker ? ` of ${describeOwner(marker)}` : ''}; give the network another vni: (or vxlan_port:)`,
      },
    ]
  })
}

/** The lab's name must not be another state directory's on this host (its links say so). */
function labNameProblems(
  topology: Topology,
  links: readonly Link[],
): { address: Address; message: string }[] {
  const taken = labNameTakenBy(links, topology)
  if (!taken) return []
  return [
    {
      address: `lab/${topology.lab}`,
      message: `the lab name "${topology.lab}" is taken on this host by state directory ${taken.stateDir} (its ${taken.links.join(', ')}); one lab name, one state directory: destroy it there (kvmctl destroy --lab ${topology.lab} --state-dir ${taken.stateDir}) or rename this lab`,
    },
  ]
}

/**
 * The boot files the lab's VMs need: a local one that is not there is a problem (a VM could
 * not start without it); a url image not in the cache yet is a download for apply to make, and
 * a file the controller copies here (`puts`) not in the cache yet is a copy for it to make.
 */
function imageFiles(topology: Topology): {
  problems: { address: Address; message: string }[]
  downloads: string[]
  puts: string[]
} {
  const used = new Set(topology.vms.map((vm) => vm.image))
  const images = Object.values(topology.images).filter((image) => used.has(image.name))
  const problems: { address: Address; message: string }[] = []
  const downloads: string[] = []
  // Boot files the controller copies to this host, not here yet.
  const pending = (topology.puts ?? []).map((p) => p.path).filter((path) => !existsSync(path))
  for (const image of images) {
    const address = `image/${image.name}`
    if (image.url !== null && image.path !== null && !existsSync(image.path)) {
      downloads.push(image.name)
      const source = image.url.startsWith('file://') ? fileURLToPath(image.url) : null
      const why =
        source === null
          ? null
          : (unreadableByInvoker(source) ?? (statSync(source).isFile() ? null : 'is not a regular file'))
      if (why)
        problems.push({
          address,
          message: `url ${image.url} ${why}; a file:// url names a readable image file`,
        })
    }
    // Files the topology names are read as the person who ran kvmctl (sudo's user), never for them.
    for (const key of ['kernel', 'initrd', 'path'] as const) {
      const file = image[key]
      if (file === null || (key === 'path' && image.url) || pending.includes(file)) continue
      const why = unreadableByInvoker(file)
      if (why)
        problems.push({
          address,
          message: `${key} ${file} ${why}; check the path, which is relative to the topology file`,
        })
    }
  }
  // UEFI needs the host's OVMF, a TPM its swtpm: missing, they stop the plan, before any step,
  // naming the package.
  for (const vm of topology.vms) {
    const ovmf = ovmfOf(vm)
    const missing = ovmf && [ovmf.code, ovmf.vars].find((file) => !existsSync(file))
    if (missing)
      problems.push({
        address: vm.address,
        message: `${vm.secureBoot ? 'secure_boot' : 'firmware: uefi'} needs ${missing}, which this host does not have; install it (apt-get install ${OVMF.package})`,
      })
    if (vm.tpm && !onPath(SWTPM.binary))
      problems.push({
        address: vm.address,
        message: `tpm: true needs ${SWTPM.binary}, which this host does not have; install it (apt-get install ${SWTPM.package})`,
      })
  }
  return { problems, downloads, puts: pending }
}

/**
 * A damaged disk stops the plan: replacing it would look like a format change and delete what
 * is left of its data without anybody having asked for that.
 */
function damagedDisks(disks: readonly (ObservedResource & { damaged?: boolean })[]) {
  return disks
    .filter((d) => d.damaged)
    .map((d) => ({
      address: d.address,
      message: `${d.handle.path} is no longer a valid qcow2 file (truncated or overwritten?); kvmctl will not replace it on its own: restore it, or move it away to have an empty disk made`,
    }))
}

/**
 * A lab network whose cidr overlaps an address or a route the host already has (its LAN, a VPN,
 * another lab's network) would give the host two ways to the same addresses: a plan problem that
 * names the interface. The lab's own bridges do not count.
 */
function overlappingCidrs(
  topology: Topology,
  links: readonly Link[],
  routes: readonly { device: string; cidr: string }[],
): { address: Address; message: string }[] {
  const ours = new Set([...ownedLinks(links, topology).values()].map((l) => l.name))
  const held = [
    ...links.flatMap((l) => l.addresses.map((a) => ({ device: l.name, cidr: a, what: 'address' }))),
    ...routes.map((r) => ({ ...r, what: 'route' })),
  ].filter((h) => !ours.has(h.device))
  const problems: { address: Address; message: string }[] = []
  for (const network of topology.networks) {
    const cidr = network.cidr && !network.external ? parseCidr(network.cidr) : null
    if (!cidr) continue
    const clash = held.find((h) => {
      const other = parseCidr(h.cidr)
      return other !== null && (contains(cidr, other.network) || contains(other, cidr.network))
    })
    if (clash) {
      problems.push({
        address: network.address,
        message: `cidr ${network.cidr} overlaps the ${clash.what} ${clash.cidr} of ${clash.device} on this host; choose a cidr the host does not use`,
      })
    }
  }
  return problems
}

/** The host's IPv4 routes but the default one, from /proc/net/route (no program to start). */
async function readRoutes(): Promise<{ device: string; cidr: string }[]> {
  const text = await readFile('/proc/net/route', 'utf8').catch(() => '')
  const ip = (hex: string) => formatIp(Buffer.from(hex, 'hex').readUInt32LE(0))
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && f[7] !== '00000000')
    .map((f) => {
      const mask = Buffer.from(f[7]!, 'hex').readUInt32LE(0)
      const prefix = mask.toString(2).replace(/0/g, '').length
      return { device: f[0]!, cidr: `${ip(f[1]!)}/${prefix}` }
    })
}

/** Users that run_as names must exist: QEMU would fail to start, after the plan was shown. */
async function missingUsers(topology: Topology): Promise<{ address: Address; message: string }[]> {
  const users = [...new Set(topology.vms.flatMap((vm) => (vm.runAs ? [vm.runAs] : [])))]
  const missing = new Set(
    (
      await Promise.all(
        users.map((user) =>
          run('getent', ['passwd', user]).then(
            () => null,
            () => user,
          ),
        ),
      )
    ).filter((u) => u !== null),
  )
  return topology.vms
    .filter((vm) => vm.runAs && missing.has(vm.runAs))
    .map((vm) => ({
      address: vm.address,
      message: `run_as user "${vm.runAs}" does not exist on this host; create it (useradd --system ${vm.runAs}) or change run_as`,
    }))
}

/** The lab's other host services: its nftables table, the qdiscs on taps, its dnsmasqs. */
interface Services {
  readonly firewall: Set<string> | null
  readonly shaping: Map<string, { rate: string | null; netem: string | null }>
  /** Where each p2p tap's ingress is redirected (wire-ops). */
  readonly wires: Map<string, string | null>
  readonly dhcp: Map<string, ReturnType<typeof observeDhcp>>
  /** The forwarding entries of the lab's VXLAN devices, by device (vxlan-ops). */
  readonly fdb: Map<string, string[]>
}

function observeDhcpServers(labDir: string): Services['dhcp'] {
  const networks = listDir(labDir).flatMap((d) =>
    resourceOfDir(d)?.kind === 'network' ? [resourceOfDir(d)!.name] : [],
  )
  return new Map(networks.map((n) => [n, observeDhcp(labDir, n)] as const))
}

/**
 * The shaping on the lab's taps, asked of `tc` only when one of them wants shaping or has a
 * qdisc that kvmctl makes (ip names each link's root qdisc): most labs shape nothing.
 */
/** The wires of the lab's p2p taps that exist: only a lab with p2p networks pays for the tc call. */
async function observeLabWires(topology: Topology, links: readonly Link[]): Promise<Services['wires']> {
  const owned = ownedLinks(links, topology)
  const devices = topology.taps
    .filter((t) => t.peer && owned.has(t.address))
    .map((t) => owned.get(t.address)!.name)
  return observeWires(devices).catch(() => new Map())
}

async function observeLabShaping(topology: Topology, links: readonly Link[]): Promise<Services['shaping']> {
  const shaped = [...ownedLinks(links, topology).values()].some(
    (link) => link.qdisc === 'tbf' || link.qdisc === 'netem',
  )
  const wanted = topology.taps.some((t) => t.rate || t.netem)
  return shaped || wanted ? observeShaping() : new Map()
}

/**
 * Shaping the kernel cannot do fails the plan, naming the module, before anything changes. Only
 * shaping still to be made is probed: a qdisc already on its tap shows the kernel has it.
 */
async function missingQdiscs(
  topology: Topology,
  shaping: Services['shaping'],
): Promise<{ address: Address; message: string }[]> {
  const problems: { address: Address; message: string }[] = []
  const toMake = topology.taps.filter((t) => {
    const now = shaping.get(t.device)
    return (t.rate || t.netem) && !(now && now.rate === t.rate && now.netem === t.netem)
  })
  const wanted: [kind: 'netem' | 'tbf', taps: Tap[], fields: string][] = [
    ['netem', toMake.filter((t) => t.netem), 'delay, jitter and loss'],
    ['tbf', toMake.filter((t) => t.rate && !t.netem), 'rate'],
  ]
  for (const [kind, taps, fields] of wanted) {
    if (taps.length === 0 || (await kernelHasQdisc(kind))) continue
    for (const tap of taps) {
      problems.push({
        address: tap.address,
        message: `${fields} need the qdisc ${kind} (kernel module sch_${kind}), which this host's kernel does not have; load it (modprobe sch_${kind}), or remove ${fields} from vms.${tap.vm}.nics[${tap.index}]`,
      })
    }
  }
  return problems
}

function observeLinks(links: readonly Link[], owner: LabOwner, services: Services): ObservedResource[] {
  const { lab } = owner
  const owned = ownedLinks(links, owner)
  const networkOfBridge = new Map<string, Address>()
  for (const [address, link] of owned)
    if (address.startsWith('network/')) networkOfBridge.set(link.name, address)
  const found: ObservedResource[] = []
  for (const [address, link] of owned) {
    const parsed = parseAddress(address)
    if (!parsed) continue
    if (parsed.type === 'network') {
      // A bridge whose VXLAN device is not (or no longer) attached is one the plan fixes in place.
      const vx = owned.get(vxlanMarkerAddress(address))
      const cidr = link.addresses.length > 0 ? parseCidr(link.addresses[0]!) : null
      const cidr6 = link.addresses6.length > 0 ? parseCidr6(link.addresses6[0]!) : null
      found.push({
        address,
        type: 'network',
        name: parsed.name,
        fields: {
          bridge: link.name,
          cidr: cidr ? formatCidr(cidr) : null,
          cidr6: cidr6 ? formatCidr6(cidr6) : null,
          dhcp: (services.dhcp.get(parsed.name) ?? null) !== null,
          dhcp_hosts: services.dhcp.get(parsed.name)?.hosts ?? null,
          dns: services.dhcp.get(parsed.name)?.dns ?? null,
          nat: services.firewall?.has(ruleComment(lab, address, 'nat')) ?? false,
          isolated: services.firewall?.has(ruleComment(lab, address, 'isolated')) ?? false,
          mtu: link.mtu,
          l2_protocols: l2ProtocolsText(link.groupFwdMask),
          vxlan: vx?.vxlan
            ? vxlanText(
                {
                  vni: vx.vxlan.vni,
                  port: vx.vxlan.port,
                  local: vx.vxlan.local ?? '',
                  dev: vx.vxlan.dev ?? '',
                },
                // Its guard is the lab's firewall rule that takes its VNI from its peers only.
                services.firewall?.has(ruleComment(lab, address, 'vxlan')) ?? false,
              )
            : null,
          vxlan_fdb: vx ? (services.fdb.get(vx.name) ?? []) : null,
        },
        handle: { bridge: link.name, hostAddress: link.addresses[0] ?? null, vxlan: vx?.name ?? null },
        uses: [],
      })
    } else if (parsed.type === 'tap') {
      const network = link.master ? networkOfBridge.get(link.master) : undefined
      found.push({
        address,
        type: 'tap',
        name: parsed.name,
        // A tap that is down (its bridge was deleted, or by hand) is not attached, whatever its master.
        fields: {
          device: link.name,
          bridge: link.up ? link.master : null,
          peer: link.up ? (services.wires.get(link.name) ?? null) : null,
          mtu: link.mtu,
          rate: services.shaping.get(link.name)?.rate ?? null,
          netem: services.shaping.get(link.name)?.netem ?? null,
        },
        handle: { device: link.name },
        uses: network ? [network] : [],
      })
    }
  }
  return found
}

interface Found<T> {
  readonly resources: T[]
  readonly problems: { address: Address; message: string }[]
  readonly notes: { address: Address; message: string }[]
}

/**
 * The lab's disks, from their files' headers, with their records as hints: a record names the
 * disk's format and protect flag, never its path. A disk file whose record is missing or damaged
 * is never written over: it is adopted when its header is the disk the topology asks for (and
 * counted as protected until its record is written again), and a conflict that stops the plan
 * otherwise. Small local reads, done here.
 */
function observeDisks(topology: Topology): Found<Observed<'disk'> & { damaged: boolean }> {
  const { labDir } = topology
  const found: Found<Observed<'disk'> & { damaged: boolean }> = { resources: [], problems: [], notes: [] }
  const names = new Set(listDir(labFiles(labDir).disks).flatMap((f) => diskOfFile(f) ?? []))
  for (const name of [...names].sort()) {
    const address = addressOf('disk', name)
    const recordPath = diskRecordFile(labDir, name)
    const read = readRecord<DiskRecord>(recordPath, diskRecordProblem)
    if (read.state === 'ok') {
      const path = diskFiles(labDir, name, read.record.format).image
      const info = readDiskFileOrNull(path)
      // A record without its file is an unfinished create: the plan creates the disk again.
      if (!info) continue
      found.resources.push(observedDisk(address, name, path, read.record, info))
      continue
    }
    const files = (['qcow2', 'raw'] as const).flatMap((format) => {
      const path = diskFiles(labDir, name, format).image
      const info = readDiskFileOrNull(path)
      return info ? [{ format, path, info }] : []
    })
    // No data without a record: the create writes both.
    if (files.length === 0) continue
    const why = read.state === 'missing' ? 'is missing' : `is damaged (${read.why})`
    const desired = topology.disks.find((d) => d.name === name)
    const match =
      desired && files.find((f) => f.format === desired.format && f.info.format === desired.format)
    if (desired && match && match.info.backingFile === desired.backingFile) {
      found.resources.push(
        observedDisk(
          address,
          name,
          match.path,
          { format: match.format, image: desired.image, protect: null },
          match.info,
        ),
      )
      found.notes.push({
        address,
        message: `its record ${recordPath} ${why}; ${match.path} is the disk the topology asks for, so it is kept as it is and its record written again (until then it counts as protected)`,
      })
    } else {
      const file = files[0]!
      found.problems.push({
        address,
        message: `${file.path} exists but its record ${recordPath} ${why}, and it is not the disk the topology asks for${desired ? ` (${desired.format}${desired.backingFile ? ` on ${desired.backingFile}` : ''})` : ''}; kvmctl will not write over it or delete it: restore the record, or move the file away`,
      })
    }
  }
  return found
}

function observedDisk(
  address: Address,
  name: string,
  path: string,
  record: Pick<DiskRecord, 'format' | 'image'> & { protect: boolean | null },
  info: DiskFileInfo,
): Observed<'disk'> & { damaged: boolean } {
  return {
    address,
    type: 'disk',
    name,
    // A qcow2 whose header is gone (truncated, overwritten) reads as raw: not a format change.
    damaged: record.format === 'qcow2' && info.format !== 'qcow2',
    fields: {
      format: info.format,
      image: record.image,
      backing_file: info.backingFile,
      size: formatSize(info.virtualBytes),
      protect: record.protect,
    },
    handle: { path, format: record.format, actualBytes: info.actualBytes, backingFile: info.backingFile },
    uses: [],
    // A disk whose record is gone may hold anything: it is protected until the record says.
    protect: record.protect ?? true,
  }
}

/**
 * The lab's VMs: found by their directories, their processes checked in /proc, their records as
 * hints; then every live one asked over QMP at once. A QEMU whose record is missing or damaged
 * is still the lab's (its command line names the VM's pid file): it is observed with unknown
 * fields, so that apply restarts it and destroy stops it. Everything up to the QMP connections
 * is synchronous, so that they are all open when this returns.
 */
function observeVms(
  labDir: string,
  everyQemu: boolean,
): { vms: Promise<Observed<'vm'>[]>; notes: { address: Address; message: string }[] } {
  const notes: { address: Address; message: string }[] = []
  const dirs = listDir(labDir).flatMap((dir) =>
    resourceOfDir(dir)?.kind === 'vm' ? [resourceOfDir(dir)!.name] : [],
  )
  // destroy also finds the QEMUs whose VM directory or pid file is gone, by their command lines.
  const running = new Map(everyQemu ? labQemus(labDir).map((q) => [q.vm, q.pid]) : [])
  const found = [...new Set([...dirs, ...running.keys()])]
    .sort()
    .map((name): Promise<Observed<'vm'>> | null => {
      const address = addressOf('vm', name)
      const runDir = vmDir(labDir, name)
      const files = vmFiles(runDir)
      const pid = running.get(name) ?? readPidFile(files.pid)
      const alive = pid !== null && isOurProcess(pid, files.pid)
      const read = readRecord<VmRecord>(files.spec, vmRecordProblem)
      if (read.state !== 'ok' && !alive) return null
      if (read.state !== 'ok') {
        notes.push({
          address,
          message: `its record ${files.spec} ${read.state === 'missing' ? 'is missing' : `is damaged (${read.why})`}, but its QEMU runs (pid ${pid}): it is restarted to match the topology, or stopped if it goes`,
        })
      }
      const record = read.state === 'ok' ? read.record : null
      const recorded = record?.fields ?? UNKNOWN_VM_FIELDS
      // QEMU has no query for a NIC's link state: kvmctl knows it from its record. Records from
      // before links were a field are of VMs whose NICs are all up.
      const links = recorded.links ?? []
      const fields = { ...BEFORE_FIRMWARE, ...recorded, links }
      // A VM whose swtpm died has lost its TPM until it restarts: drift the plan repairs.
      if (fields.tpm && alive && !swtpmRunning(runDir)) {
        fields.tpm = false
        notes.push({
          address,
          message: `its swtpm (${files.swtpmPid}) is not running: the guest has no TPM until it restarts`,
        })
      }
      return (alive ? liveState(files.qmp) : Promise.resolve('stopped')).then((state) => ({
        address,
        type: 'vm',
        name,
        fields: { ...fields, state },
        handle: {
          pid: alive ? pid : null,
          runDir,
          recordedState: record?.state ?? null,
          taps: JSON.stringify(record?.taps ?? []),
          shutdownTimeout: record?.shutdownTimeoutSeconds ?? null,
          record: read.state,
        },
        // Without a record, what it uses is unknown: observe() makes it all the lab's disks and taps.
        uses: record?.uses ?? [],
      }))
    })
  return { vms: Promise.all(found.filter((v) => v !== null)), notes }
}

/** Records written before these were fields are of VMs started with SeaBIOS on pc, no TPM, no mounts. */
const BEFORE_FIRMWARE = { firmware: 'bios', machine: 'pc', secure_boot: false, tpm: false, mounts: [] }

/** The fields of a VM whose record is lost: none matches a topology's, so the plan restarts it. */
const UNKNOWN_VM_FIELDS: Omit<VmFields, 'state'> = {
  image: '(unknown)',
  cpus: 0,
  memory: '(unknown)',
  accel: '(unknown)',
  firmware: '(unknown)',
  machine: '(unknown)',
  secure_boot: false,
  tpm: false,
  run_as: null,
  kernel: null,
  initrd: null,
  cmdline: null,
  nics: [],
  links: [],
  disks: [],
  cloud_init: null,
  ports: [],
  mounts: [],
  ready: null,
}

/**
 * A running QEMU keeps the tap it opened even when the tap is deleted; a tap made again in its
 * place is a different interface that the guest's NIC is not connected to. Such a NIC shows as
 * `(tap gone)` in the VM's nics, which the plan turns into a restart after the tap is made.
 */
function withTapCheck(vm: Observed<'vm'>, links: readonly Link[]): Observed<'vm'> {
  if (vm.handle.pid === null) return vm
  const opened = JSON.parse(String(vm.handle.taps)) as { device: string; ifindex: number }[]
  const indexOf = new Map(links.map((l) => [l.name, l.index]))
  const nics = vm.fields.nics
  if (!Array.isArray(nics)) return vm
  const checked = nics.map((nic, i) =>
    opened[i] && indexOf.get(opened[i].device) !== opened[i].ifindex ? `${nic} (tap gone)` : nic,
  )
  return { ...vm, fields: { ...vm.fields, nics: checked } }
}

/**
 * How long a VM may take to answer QMP before it counts as unresponsive, which apply repairs by
 * killing it: generous, since a busy TCG host can be slow, and a healthy QEMU answers in ms.
 */
const UNRESPONSIVE_AFTER_MS = 5000

/** running or paused, from QMP; a process that does not answer is `unresponsive`. */
async function liveState(qmpPath: string): Promise<string> {
  try {
    const status = await qmpCommand<{ status: string; running: boolean }>(
      qmpPath,
      'query-status',
      undefined,
      UNRESPONSIVE_AFTER_MS,
    )
    return status.running ? 'running' : 'paused'
  } catch {
    return 'unresponsive'
  }
}

async function observeCapacity(stateDir: string): Promise<HostCapacity | null> {
  try {
    const meminfo = await readFile('/proc/meminfo', 'utf8')
    const available = /^MemAvailable:\s+(\d+) kB/m.exec(meminfo)
    const fs = await statfsNearest(stateDir)
    return {
      memoryAvailableMiB: available ? Math.floor(Number(available[1]) / 1024) : Number.POSITIVE_INFINITY,
      cpus: availableParallelism(),
      diskAvailableBytes: fs ? fs.bavail * fs.bsize : Number.POSITIVE_INFINITY,
    }
  } catch {
    return null
  }
}

/** statfs of the state directory, or of its nearest existing parent before the first apply. */
async function statfsNearest(path: string) {
  for (let p = path; ; p = dirname(p)) {
    try {
      return await statfs(p)
    } catch {
      if (p === dirname(p)) return null
    }
  }
}
