import { type LabOwner, ownershipMarker } from '../model/names.js'
import type { Network } from '../model/types.js'
import { FLOOD_MAC, vxlanMarkerAddress } from '../model/vxlan.js'
import { run, runJson } from './exec.js'
import { deleteLink, ipBatch } from './network-ops.js'

/**
 * A spanning network's end on this host: a VXLAN device on the underlay link, marked as the
 * lab's, on the network's bridge, with the network's MTU (the kernel refuses one above the
 * underlay's less 50, VXLAN's headers). No learning and no multicast: frames for a MAC of a NIC on
 * another host go to that host (a static entry each), broadcast and unknown unicast to every peer
 * (an all-zero entry each: head-end replication). Made again from scratch when it exists already
 * (an interrupted apply): making it must not fail because it half happened before.
 */
export async function createVxlan(owner: LabOwner, network: Network): Promise<void> {
  const v = network.vxlan!
  await deleteLink(v.device)
  await ipBatch([
    [
      'link',
      'add',
      v.device,
      'type',
      'vxlan',
      'id',
      String(v.vni),
      'dstport',
      String(v.port),
      'local',
      v.local,
      'dev',
      v.dev,
      'nolearning',
    ],
    [
      'link',
      'set',
      'dev',
      v.device,
      'alias',
      ownershipMarker(owner, vxlanMarkerAddress(network.address)),
      'mtu',
      String(network.mtu ?? 1500),
      'master',
      network.bridge,
      'up',
    ],
  ])
  await syncFdb(network, [])
}

/** The device's forwarding entries made what the topology says: missing ones added, others removed. */
export async function syncFdb(network: Network, current: readonly string[]): Promise<void> {
  const v = network.vxlan!
  const wanted = [...v.peers.map((dst) => `${FLOOD_MAC} ${dst}`), ...v.macs.map((m) => `${m.mac} ${m.dst}`)]
  const commands = [
    ...current
      .filter((entry) => !wanted.includes(entry))
      .map((entry) => entryCommand('del', entry, v.device)),
    ...wanted
      .filter((entry) => !current.includes(entry))
      .map((entry) =>
        // Several flood entries for the one all-zero MAC are appended; a MAC has one destination.
        entryCommand(entry.startsWith(FLOOD_MAC) ? 'append' : 'replace', entry, v.device),
      ),
  ]
  if (commands.length > 0) await run('bridge', ['-batch', '-'], { input: `${commands.join('\n')}\n` })
}

function entryCommand(verb: 'append' | 'replace' | 'del', entry: string, device: string): string {
  const [mac, dst] = entry.split(' ')
  return `fdb ${verb} ${mac} dev ${device} dst ${dst}${verb === 'del' ? '' : ' self permanent'}`
}

/** Every VXLAN forwarding entry with a destination on this host, by device: `MAC DST`. */
export async function listVxlanFdb(): Promise<Map<string, string[]>> {
  const entries = await runJson<{ mac: string; ifname?: string; dst?: string }[]>('bridge', [
    '-j',
    'fdb',
    'show',
  ])
  const byDevice = new Map<string, string[]>()
  for (const e of entries) {
    if (!e.dst || !e.ifname) continue
    byDevice.set(e.ifname, [...(byDevice.get(e.ifname) ?? []), `${e.mac} ${e.dst}`])
  }
  for (const list of byDevice.values()) list.sort()
  return byDevice
}
