import { readFile } from 'node:fs/promises'
import { type PortSpec, parseForwardText, samePort } from '../model/ports.js'
import type { Address, Topology } from '../model/types.js'
import { run } from './exec.js'
import { forwardsInComments, tableName } from './firewall-ops.js'

/** A socket that takes connections (TCP LISTEN) or datagrams (a bound UDP socket) on this host. */
export interface Listener {
  readonly protocol: 'tcp' | 'udp'
  /** The address it is bound to; null: every address. */
  readonly address: string | null
  readonly port: number
}

/**
 * The listening sockets in one of /proc/net/{tcp,tcp6,udp,udp6}: local address and port in hex,
 * IPv4 addresses little-endian; state 0A is TCP's LISTEN, 07 an unconnected UDP socket.
 */
export function parseProcNet(text: string, protocol: 'tcp' | 'udp'): Listener[] {
  const listening = protocol === 'tcp' ? '0A' : '07'
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[3] === listening)
    .map((f) => {
      const [hex, port] = f[1]!.split(':')
      let address: string | null = null
      if (hex!.length === 8) {
        const bytes = [0, 1, 2, 3].map((i) => Number.parseInt(hex!.slice(i * 2, i * 2 + 2), 16)).reverse()
        address = bytes.every((b) => b === 0) ? null : bytes.join('.')
      } else if (!/^0+$/.test(hex!)) address = `[${hex}]`
      return { protocol, address, port: Number.parseInt(port!, 16) }
    })
}

/**
 * Why the lab's forwards cannot be made: a host port taken by a listening socket, or forwarded by
 * another lab (found in its table's rule comments). Read only when the lab has forwards.
 */
export async function portProblems(topology: Topology): Promise<{ address: Address; message: string }[]> {
  const wanted = topology.vms.flatMap((vm) => vm.ports.map((port) => ({ vm, port })))
  if (wanted.length === 0) return []
  const [listeners, others] = await Promise.all([hostListeners(), otherLabsForwards(topology.lab)])
  const problems: { address: Address; message: string }[] = []
  for (const { vm, port } of wanted) {
    const name = `${port.listen ? `${port.listen}:` : ''}${port.hostPort}/${port.protocol}`
    const socket = listeners.find(
      (l) =>
        l.protocol === port.protocol &&
        l.port === port.hostPort &&
        (port.listen === null || l.address === null || l.address === port.listen),
    )
    if (socket)
      problems.push({
        address: vm.address,
        message: `host port ${name} is in use by a program on this host (a socket on ${socket.address ?? 'every address'}:${socket.port}); choose another host port`,
      })
    const other = others.find((o) => samePort(o.port, port))
    if (other)
      problems.push({
        address: vm.address,
        message: `host port ${name} is already forwarded by lab "${other.lab}"; choose another host port`,
      })
  }
  return problems
}

async function hostListeners(): Promise<Listener[]> {
  const files = ['tcp', 'tcp6', 'udp', 'udp6'] as const
  const texts = await Promise.all(files.map((f) => readFile(`/proc/net/${f}`, 'utf8').catch(() => '')))
  return texts.flatMap((text, i) => parseProcNet(text, files[i]!.startsWith('tcp') ? 'tcp' : 'udp'))
}

/** The forwards in the other kvmctl labs' tables of this network namespace. */
async function otherLabsForwards(lab: string): Promise<{ lab: string; port: PortSpec }[]> {
  let parsed: { nftables: { rule?: { table: string; comment?: string } }[] }
  try {
    parsed = JSON.parse((await run('nft', ['-j', 'list', 'ruleset', 'inet'])).stdout)
  } catch {
    return []
  }
  const ours = tableName(lab)
  const byTable = new Map<string, string[]>()
  for (const item of parsed.nftables) {
    const rule = item.rule
    if (!rule?.comment || !rule.table.startsWith('kvmctl_') || rule.table === ours) continue
    byTable.set(rule.table, [...(byTable.get(rule.table) ?? []), rule.comment])
  }
  return [...byTable].flatMap(([table, comments]) =>
    [...forwardsInComments(comments).values()].flat().flatMap((text) => {
      const port = parseForwardText(text)
      return port ? [{ lab: table.slice('kvmctl_'.length).replaceAll('_', '-'), port }] : []
    }),
  )
}
