import { type LabOwner, ownershipMarker, parseOwnershipMarker } from '../model/names.js'
import type { NameConflict } from '../model/snapshot.js'
import type { Address } from '../model/types.js'
import { runJson } from './exec.js'

/** One network interface as `ip -j -d addr show` reports it, reduced to what kvmctl reads. */
export interface Link {
  readonly index: number
  readonly name: string
  readonly kind: string | null
  readonly alias: string | null
  readonly master: string | null
  readonly mtu: number
  readonly up: boolean
  /** The kind of its root qdisc (noqueue, fq_codel, tbf, netem...). */
  readonly qdisc: string | null
  /** A bridge's group_fwd_mask (0 for other links). */
  readonly groupFwdMask: number
  readonly addresses: readonly string[]
  /** Its global IPv6 addresses with prefix. */
  readonly addresses6: readonly string[]
  /** A VXLAN device's identifier, UDP port, local address and underlay link. */
  readonly vxlan: {
    readonly vni: number
    readonly port: number
    readonly local: string | null
    readonly dev: string | null
  } | null
}

interface IpAddrJson {
  ifindex: number
  ifname: string
  ifalias?: string
  master?: string
  mtu: number
  qdisc?: string
  flags?: string[]
  linkinfo?: {
    info_kind?: string
    info_data?: {
      group_fwd_mask?: string | number
      id?: number
      port?: number
      local?: string
      link?: string
    }
  }
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[]
}

export function parseLinks(json: readonly IpAddrJson[]): Link[] {
  return json.map((l) => ({
    index: l.ifindex,
    name: l.ifname,
    kind: l.linkinfo?.info_kind ?? null,
    alias: l.ifalias ?? null,
    master: l.master ?? null,
    mtu: l.mtu,
    up: (l.flags ?? []).includes('UP'),
    qdisc: l.qdisc ?? null,
    groupFwdMask: Number(l.linkinfo?.info_data?.group_fwd_mask ?? 0),
    addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    addresses6: (l.addr_info ?? [])
      .filter((a) => a.family === 'inet6' && a.scope === 'global')
      .map((a) => `${a.local}/${a.prefixlen}`),
    vxlan:
      l.linkinfo?.info_kind === 'vxlan'
        ? {
            vni: l.linkinfo.info_data?.id ?? 0,
            port: l.linkinfo.info_data?.port ?? 0,
            local: l.linkinfo.info_data?.local ?? null,
            dev: l.linkinfo.info_data?.link ?? null,
          }
        : null,
  }))
}

/** Every link of the current network namespace, with aliases and addresses: one `ip` call. */
export async function listLinks(): Promise<Link[]> {
  return parseLinks(await runJson<IpAddrJson[]>('ip', ['-j', '-d', 'addr', 'show']))
}

/** The links a lab owns, by address, read from the ownership marker in each alias. */
export function ownedLinks(links: readonly Link[], owner: LabOwner): Map<Address, Link> {
  const owned = new Map<Address, Link>()
  for (const link of links) {
    const marker = parseOwnershipMarker(link.alias)
    if (marker?.lab === owner.lab && marker.stateDir === owner.stateDir) owned.set(marker.address, link)
  }
  return owned
}

/** Names the lab wants that a link it does not own already has. */
export function linkConflicts(
  links: readonly Link[],
  owner: LabOwner,
  wanted: readonly { address: Address; hostName: string; kind: string; marker?: Address }[],
): NameConflict[] {
  const byName = new Map(links.map((l) => [l.name, l]))
  const conflicts: NameConflict[] = []
  for (const want of wanted) {
    const link = byName.get(want.hostName)
    if (!link || link.alias === ownershipMarker(owner, want.marker ?? want.address)) continue
    const marker = parseOwnershipMarker(link.alias)
    conflicts.push({
      address: want.address,
      hostName: want.hostName,
      kind: want.kind,
      owner: marker ? describeOwner(marker) : null,
    })
  }
  return conflicts
}

/** How a plan names the owner of a link: `lab "web" (network/lan) of state directory /x`. */
export function describeOwner(marker: LabOwner & { address: string }): string {
  return `lab "${marker.lab}" (${marker.address})${marker.stateDir ? ` of state directory ${marker.stateDir}` : ''}`
}

/**
 * A lab name is one state directory's at a time on a host: links of a lab of this name that
 * another state directory keeps, which would share this lab's names and nftables table.
 */
export function labNameTakenBy(
  links: readonly Link[],
  owner: LabOwner,
): { stateDir: string; links: string[] } | null {
  const strangers = links.filter((link) => {
    const marker = parseOwnershipMarker(link.alias)
    return marker?.lab === owner.lab && marker.stateDir !== owner.stateDir
  })
  if (strangers.length === 0) return null
  return {
    stateDir: parseOwnershipMarker(strangers[0]!.alias)!.stateDir,
    links: strangers.map((l) => l.name),
  }
}
