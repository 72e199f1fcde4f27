import type { Vxlan } from './types.js'

/** The MAC of a VXLAN forwarding entry that floods (broadcast, unknown unicast) to one peer. */
export const FLOOD_MAC = '00:00:00:00:00:00'

/** How the plan shows a VXLAN device, the same text from the topology and from the host. */
export function vxlanText(v: Pick<Vxlan, 'vni' | 'port' | 'local' | 'dev'>, guarded: boolean): string {
  return `vni ${v.vni} port ${v.port} local ${v.local} dev ${v.dev}${guarded ? ', from peers only' : ''}`
}

/** Its forwarding entries, `MAC DESTINATION`, sorted: one flood entry per peer, one per remote NIC. */
export function vxlanFdb(v: Pick<Vxlan, 'peers' | 'macs'>): string[] {
  return [...v.peers.map((p) => `${FLOOD_MAC} ${p}`), ...v.macs.map((m) => `${m.mac} ${m.dst}`)].sort()
}

/** The ownership marker's address of a network part's VXLAN device: `vxlan/lan@b` for `network/lan@b`. */
export const vxlanMarkerAddress = (networkAddress: string) => networkAddress.replace(/^network\//, 'vxlan/')
