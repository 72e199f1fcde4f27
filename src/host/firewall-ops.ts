import { readFile, writeFile } from 'node:fs/promises'
import type { Address, Network } from '../model/types.js'
import { run } from './exec.js'

/**
 * The lab's nftables table: the only one kvmctl ever touches, named after the lab, of family
 * inet so that its rules hold for IPv4 and IPv6 alike. For every managed network it drops
 * traffic routed into or out of its bridge (labs cannot reach each other or the host's other
 * networks through the host), except, on NAT networks, traffic from the network out of the host
 * (masqueraded, IPv6 too: NAT66) and the replies to it.
 */
export const tableName = (lab: string) => `kvmctl_${lab.replaceAll('-', '_')}`

export const ruleComment = (lab: string, network: Address, kind: 'nat' | 'isolated') =>
  `kvmctl:${lab}:${network}:${kind}`

export function renderTable(lab: string, networks: readonly Network[]): string {
  const managed = networks.filter((n) => !n.external)
  const q = JSON.stringify
  const forward: string[] = []
  const postrouting: string[] = []
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
  return [
    `table inet ${tableName(lab)} {`,
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
export async function syncFirewall(lab: string, networks: readonly Network[]): Promise<void> {
  const table = tableName(lab)
  // The ip table is what kvmctl made before its tables were inet: it goes in the same transaction.
  const script = [
    `table ip ${table} {}`,
    `delete table ip ${table}`,
    `table inet ${table} {}`,
    `delete table inet ${table}`,
  ]
  if (networks.some((n) => !n.external)) script.push(renderTable(lab, networks))
  await run('nft', ['-f', '-'], { input: `${script.join('\n')}\n` })
  if (networks.some((n) => n.nat)) await enableForwarding('/proc/sys/net/ipv4/ip_forward')
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
