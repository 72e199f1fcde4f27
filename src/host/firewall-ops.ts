import { readFile, writeFile } from 'node:fs/promises'
import { forwardText } from '../model/ports.js'
import type { Address, Network, Vm } from '../model/types.js'
import { run } from './exec.js'

/**
 * The lab's nftables table: the only one kvmctl ever touches, named after the lab, of family
 * inet so that its rules hold for IPv4 and IPv6 alike. For every managed network it drops
 * traffic routed into or out of its bridge (labs cannot reach each other or the host's other
 * networks through the host), except, on NAT networks, traffic from the network out of the host
 * (masqueraded, IPv6 too: NAT66) and the replies to it, and the connections of the VMs' port
 * forwards (DNAT from other machines and from the host itself).
 */
export const tableName = (lab: string) => `kvmctl_${lab.replaceAll('-', '_')}`

export const ruleComment = (lab: string, network: Address, kind: 'nat' | 'isolated' | 'vxlan') =>
  `kvmctl:${lab}:${network}:${kind}`

/**
 * A port forward's rules are marked with its VM and its text (`vm/web:port:8080->10.0.0.5:80/tcp`),
 * which observe reads back; the table's name says whose lab it is, and nft keeps a comment to 128
 * bytes, so the lab is not repeated in it.
 */
export const portComment = (vm: string, text: string) => `vm/${vm}:port:${text}`
const PORT_COMMENT = /^vm\/([a-z0-9-]+):port:(.+)$/

/** The forwards of each VM found among a table's rule comments: VM name → forward texts. */
export function forwardsInComments(comments: Iterable<string>): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const comment of comments) {
    const m = PORT_COMMENT.exec(comment)
    if (m) found.set(m[1]!, [...new Set([...(found.get(m[1]!) ?? []), m[2]!])].sort())
  }
  return found
}

export function renderTable(lab: string, networks: readonly Network[], vms: readonly Vm[] = []): string {
  const managed = networks.filter((n) => !n.external)
  const q = JSON.stringify
  const forward: string[] = []
  const postrouting: string[] = []
  const dnat: string[] = []
  const localDnat: string[] = []
  const guard: string[] = []
  for (const n of managed.filter((n) => n.nat && n.cidr)) {
    const comment = q(ruleComment(lab, n.address, 'nat'))
    forward.push(
      `    iifname ${q(n.bridge)} oifname != ${q(n.bridge)} ip saddr ${n.cidr} accept comment ${comment}`,
    )
    forward.push(`    oifname ${q(n.bridge)} ct state established,related accept comment ${comment}`)
    postrouting.push(`    ip saddr ${n.cidr} oifname != ${q(n.bridge)} masquerade comment ${comment}`)
    if (n.cidr6) {
      forward.push(
        `    iifname ${q(n.bridge)} oifname != ${q(n.bridge)} ip6 saddr ${n.cidr6} accept comment ${comment}`,
      )
      postrouting.push(`    ip6 saddr ${n.cidr6} oifname != ${q(n.bridge)} masquerade comment ${comment}`)
    }
  }
  for (const vm of vms) {
    for (const port of vm.ports) {
      const comment = q(portComment(vm.name, forwardText(port, port.guestIp)))
      const to = `${port.protocol} dport ${port.hostPort} dnat ip to ${port.guestIp}:${port.guestPort} comment ${comment}`
      const loopback = port.listen?.startsWith('127.')
      // From outside (prerouting) and from the host itself (output); a loopback address only from the host.
      if (!loopback)
        dnat.push(`    ${port.listen ? `ip daddr ${port.listen}` : 'fib daddr type local'} ${to}`)
      localDnat.push(`    ${port.listen ? `ip daddr ${port.listen}` : 'fib daddr type local'} ${to}`)
    }
  }
  // Forwarded connections pass the isolation (both ways) and are masqueraded: they reach the guest
  // from the host's address on its network, so it answers whatever its routes, and a loopback
  // source never reaches it.
  for (const bridge of new Set(vms.flatMap((vm) => vm.ports.map((p) => p.bridge)))) {
    const comment = q(`${bridge}:ports`)
    forward.push(
      `    oifname ${q(bridge)} ct status dnat accept comment ${comment}`,
      `    iifname ${q(bridge)} ct status dnat accept comment ${comment}`,
    )
    postrouting.push(`    oifname ${q(bridge)} ct status dnat masquerade comment ${comment}`)
    // route_localnet (set for loopback forwards) would let a guest reach the host's loopback.
    guard.push(`    iifname ${q(bridge)} ip daddr 127.0.0.0/8 drop comment ${comment}`)
  }
  // A spanning network's wires take VXLAN packets with its VNI from its peers only: anybody else
  // on the underlay could put frames on the lab's network. The VNI is the 24 bits after the
  // UDP header (8 bytes) and VXLAN's flags (4 bytes).
  for (const n of managed.filter((n) => n.vxlan)) {
    const v = n.vxlan!
    guard.push(
      `    udp dport ${v.port} @th,96,24 ${v.vni} ip saddr != { ${v.peers.join(', ')} } drop comment ${q(ruleComment(lab, n.address, 'vxlan'))}`,
    )
  }
  for (const n of managed) {
    const comment = q(ruleComment(lab, n.address, 'isolated'))
    // Where br_netfilter is active, frames bridged between two taps also pass this hook, with
    // the bridge as both ends: traffic that stays on its bridge is always let through.
    forward.push(`    iifname ${q(n.bridge)} oifname ${q(n.bridge)} accept comment ${comment}`)
  }
  for (const n of managed) {
    const comment = q(ruleComment(lab, n.address, 'isolated'))
    forward.push(
      `    iifname ${q(n.bridge)} drop comment ${comment}`,
      `    oifname ${q(n.bridge)} drop comment ${comment}`,
    )
  }
  const chain = (name: string, hook: string, rules: string[]) =>
    rules.length === 0 ? [] : [`  chain ${name} {`, `    type ${hook}; policy accept;`, ...rules, '  }']
  return [
    `table inet ${tableName(lab)} {`,
    ...chain('guard', 'filter hook prerouting priority raw', guard),
    ...chain('prerouting', 'nat hook prerouting priority dstnat', dnat),
    ...chain('output', 'nat hook output priority -100', localDnat),
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    ...forward,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    ...postrouting,
    '  }',
    '}',
  ].join('\n')
}

/**
 * Makes the lab's table match its networks, in one nft transaction (create if missing, delete,
 * recreate): never a moment with half the rules. No managed network left: no table.
 */
export async function syncFirewall(
  lab: string,
  networks: readonly Network[],
  vms: readonly Vm[] = [],
): Promise<void> {
  const table = tableName(lab)
  // The ip table is what kvmctl made before its tables were inet: it goes in the same transaction.
  const script = [
    `table ip ${table} {}`,
    `delete table ip ${table}`,
    `table inet ${table} {}`,
    `delete table inet ${table}`,
  ]
  if (networks.some((n) => !n.external)) script.push(renderTable(lab, networks, vms))
  await run('nft', ['-f', '-'], { input: `${script.join('\n')}\n` })
  const ports = vms.flatMap((vm) => vm.ports)
  // A forward from the host's loopback is routed out of the lab's own bridge only if that bridge
  // accepts loopback sources (the guard chain above keeps guests from the host's loopback).
  // (A bridge made later, by a step running beside this one, syncs the table again once it exists.)
  for (const bridge of new Set(ports.filter((p) => p.listen?.startsWith('127.')).map((p) => p.bridge)))
    await writeFile(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1\n').catch((error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    })
  if (networks.some((n) => n.nat) || ports.length > 0) await enableForwarding('/proc/sys/net/ipv4/ip_forward')
  if (networks.some((n) => n.nat && n.cidr6)) await enableForwarding('/proc/sys/net/ipv6/conf/all/forwarding')
}

/** NAT needs forwarding (IPv6 too for a cidr6); kvmctl turns it on (the plan says so), never off. */
async function enableForwarding(sysctl: string): Promise<void> {
  if ((await readFile(sysctl, 'utf8')).trim() !== '1') await writeFile(sysctl, '1\n')
}

/** The comments of the lab's rules, or null when it has no table (or nft is missing). */
export async function observeFirewall(lab: string): Promise<Set<string> | null> {
  try {
    const { stdout } = await run('nft', ['-j', 'list', 'table', 'inet', tableName(lab)])
    const parsed = JSON.parse(stdout) as { nftables: { rule?: { comment?: string } }[] }
    return new Set(parsed.nftables.flatMap((item) => (item.rule?.comment ? [item.rule.comment] : [])))
  } catch {
    return null
  }
}
