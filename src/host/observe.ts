import { readFile, statfs } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import { formatCidr, parseCidr } from '../lib/ipv4.js'
import { formatSize } from '../lib/units.js'
import { addressOf, parseAddress } from '../model/address.js'
import {
  diskFiles,
  diskOfRecordFile,
  diskRecordFile,
  labFiles,
  resourceOfDir,
  vmDir,
  vmFiles,
} from '../model/layout.js'
import type { HostCapacity, HostSnapshot, Observed, ObservedResource } from '../model/snapshot.js'
import type { Address, Tap, Topology } from '../model/types.js'
import { observeDhcp } from './dhcp-ops.js'
import { run } from './exec.js'
import { observeFirewall, ruleComment } from './firewall-ops.js'
import { type Link, linkConflicts, listLinks, ownedLinks } from './links.js'
import { isOurProcess, readPidFile } from './process.js'
import { readDiskFileOrNull } from './qcow2.js'
import { qmpCommand } from './qmp.js'
import { kernelHasQdisc, observeShaping } from './shaping-ops.js'
import { type DiskRecord, exists, listDir, readJson, type VmRecord } from './state.js'

/**
 * Reads what the host has for a lab, without changing anything: one `ip` call for every
 * bridge and tap, the lab's state directory for disks and VMs (disk headers read directly,
 * each VM's process checked in /proc and asked over QMP), all in parallel.
 */
export async function observe(topology: Topology): Promise<HostSnapshot> {
  // In the order that keeps the cores busy: the QMP questions go out first, so that the QEMUs
  // answer on the other core while `ip` and `nft` start and the state directory is read here.
  const vmsAnswered = observeVms(topology.labDir)
  const linksListed = listLinks()
  const firewallListed = observeFirewall(topology.lab)
  const disks = observeDisks(topology.labDir)
  const dhcp = observeDhcpServers(topology.labDir)
  const [links, vms, capacity, firewall, images, unknownUsers] = await Promise.all([
    linksListed,
    vmsAnswered,
    observeCapacity(topology.stateDir),
    firewallListed,
    imageFiles(topology),
    missingUsers(topology),
  ])
  const shaping = await observeLabShaping(topology, links)
  const resources: Record<Address, ObservedResource> = {}
  for (const r of [
    ...observeLinks(links, topology.lab, { firewall, shaping, dhcp }),
    ...disks,
    ...vms.map((vm) => withTapCheck(vm, links)),
  ]) {
    resources[r.address] = r
  }

  const wanted = [
    ...topology.networks
      .filter((n) => !n.external)
      .map((n) => ({ address: n.address, hostName: n.bridge, kind: 'bridge' })),
    ...topology.taps.map((t) => ({ address: t.address, hostName: t.device, kind: 'tap' })),
  ]
  const byName = new Map(links.map((l) => [l.name, l]))
  const problems = topology.networks
    .filter((n) => n.external && byName.get(n.bridge)?.kind !== 'bridge')
    .map((n) => ({
      address: n.address,
      message: byName.has(n.bridge)
        ? `external "${n.bridge}" is not a bridge on this host`
        : `external bridge "${n.bridge}" does not exist on this host; create it first (ip link add ${n.bridge} type bridge) or fix the name`,
    }))
  problems.push(
    ...images.problems,
    ...damagedDisks(disks),
    ...unknownUsers,
    ...(await missingQdiscs(topology, shaping)),
  )
  return {
    lab: topology.lab,
    resources,
    conflicts: linkConflicts(links, topology.lab, wanted),
    problems,
    capacity,
    downloads: images.downloads,
  }
}

/**
 * The boot files the lab's VMs need: a local one that is not there is a problem (a VM could
 * not start without it); a url image not in the cache yet is a download for apply to make.
 */
async function imageFiles(
  topology: Topology,
): Promise<{ problems: { address: Address; message: string }[]; downloads: string[] }> {
  const used = new Set(topology.vms.map((vm) => vm.image))
  const images = Object.values(topology.images).filter((image) => used.has(image.name))
  const downloads = (
    await Promise.all(
      images
        .filter((image) => image.url !== null)
        .map(async (image) => ((await exists(image.path!)) ? null : image.name)),
    )
  ).filter((name) => name !== null)
  const checks = images.flatMap((image) =>
    (['kernel', 'initrd', 'path'] as const)
      // A url image's file is its download.
      .filter((key) => image[key] !== null && !(key === 'path' && image.url))
      .map(async (key) => {
        const file = image[key]!
        if (await exists(file)) return null
        const message = `${key} ${file} does not exist; check the path, which is relative to the topology file`
        return { address: `image/${image.name}`, message }
      }),
  )
  return { problems: (await Promise.all(checks)).filter((p) => p !== null), downloads }
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
  readonly dhcp: Map<string, string[] | null>
}

function observeDhcpServers(labDir: string): Map<string, string[] | null> {
  const networks = listDir(labDir).flatMap((d) =>
    resourceOfDir(d)?.kind === 'network' ? [resourceOfDir(d)!.name] : [],
  )
  return new Map(networks.map((n) => [n, observeDhcp(labDir, n)] as const))
}

/**
 * The shaping on the lab's taps, asked of `tc` only when one of them wants shaping or has a
 * qdisc that kvmctl makes (ip names each link's root qdisc): most labs shape nothing.
 */
async function observeLabShaping(topology: Topology, links: readonly Link[]): Promise<Services['shaping']> {
  const shaped = [...ownedLinks(links, topology.lab).values()].some(
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

function observeLinks(links: readonly Link[], lab: string, services: Services): ObservedResource[] {
  const owned = ownedLinks(links, lab)
  const networkOfBridge = new Map<string, Address>()
  for (const [address, link] of owned)
    if (address.startsWith('network/')) networkOfBridge.set(link.name, address)
  const found: ObservedResource[] = []
  for (const [address, link] of owned) {
    const parsed = parseAddress(address)
    if (!parsed) continue
    if (parsed.type === 'network') {
      const cidr = link.addresses.length > 0 ? parseCidr(link.addresses[0]!) : null
      found.push({
        address,
        type: 'network',
        name: parsed.name,
        fields: {
          bridge: link.name,
          cidr: cidr ? formatCidr(cidr) : null,
          dhcp: (services.dhcp.get(parsed.name) ?? null) !== null,
          dhcp_hosts: services.dhcp.get(parsed.name) ?? null,
          nat: services.firewall?.has(ruleComment(lab, address, 'nat')) ?? false,
          isolated: services.firewall?.has(ruleComment(lab, address, 'isolated')) ?? false,
          mtu: link.mtu,
        },
        handle: { bridge: link.name, hostAddress: link.addresses[0] ?? null },
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

/** The lab's disks, from their records and their files' headers: small local reads, done here. */
function observeDisks(labDir: string): (ObservedResource & { damaged: boolean })[] {
  const names = listDir(labFiles(labDir).disks).flatMap((f) => diskOfRecordFile(f) ?? [])
  const found = names.map((name): (ObservedResource & { damaged: boolean }) | null => {
    const record = readJson<DiskRecord>(diskRecordFile(labDir, name))
    if (!record) return null
    const path = diskFiles(labDir, name, record.format).image
    const info = readDiskFileOrNull(path)
    // A record without its file is an unfinished create: the plan creates the disk again.
    if (!info) return null
    return {
      address: addressOf('disk', name),
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
      protect: record.protect,
    }
  })
  return found.filter((d) => d !== null)
}

/**
 * The lab's VMs: records and processes read here, then every live one asked over QMP at once.
 * Everything up to the QMP connections is synchronous, so that they are all open when this returns.
 */
function observeVms(labDir: string): Promise<Observed<'vm'>[]> {
  const found = listDir(labDir)
    .flatMap((dir) => (resourceOfDir(dir)?.kind === 'vm' ? [resourceOfDir(dir)!.name] : []))
    .map((name): Promise<Observed<'vm'>> | null => {
      const runDir = vmDir(labDir, name)
      const files = vmFiles(runDir)
      const record = readJson<VmRecord>(files.spec)
      if (!record) return null
      const pid = readPidFile(files.pid)
      const alive = pid !== null && isOurProcess(pid, files.pid)
      return (alive ? liveState(files.qmp) : Promise.resolve('stopped')).then((state) => ({
        address: addressOf('vm', name),
        type: 'vm',
        name,
        fields: { ...record.fields, state },
        handle: {
          pid: alive ? pid : null,
          runDir,
          recordedState: record.state,
          taps: JSON.stringify(record.taps ?? []),
          shutdownTimeout: record.shutdownTimeoutSeconds ?? null,
        },
        uses: record.uses,
      }))
    })
  return Promise.all(found.filter((v) => v !== null))
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
