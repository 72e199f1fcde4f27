import { readFile, writeFile } from 'node:fs/promises'
import type { Address, Network } from '../model/types.js'
import { run } from './exec.js'

/**
 * The lab's nftables table: the only one kvmctl ever touches, named after the lab. For every
 * managed network it drops traffic routed into or out of its bridge (labs cannot reach each
 * other or the host's other networks through the host), except, on NAT networks, traffic from
 * the network out of the host (masqueraded) and the replies to it.
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
    `table ip ${tableName(lab)} {`,
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
  const script = [`table ip ${table} {}`, `delete table ip ${table}`]
  if (networks.some((n) => !n.external)) script.push(renderTable(lab, networks))
  await run('nft', ['-f', '-'], { input: `${script.join('\n')}\n` })
  if (networks.some((n) => n.nat)) await enableForwarding()
}

/** NAT needs IPv4 forwarding; kvmctl turns it on (the plan says so) and never off. */
async function enableForwarding(): Promise<void> {
  if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() !== '1') {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n')
  }
}

/** The comments of the lab's rules, or null when it has no table (or nft is missing). */
export async function observeFirewall(lab: string): Promise<Set<string> | null> {
  try {
    const { stdout } = await run('nft', ['-j', 'list', 'table', 'ip', tableName(lab)])
    const parsed = JSON.parse(stdout) as { nftables: { rule?: { comment?: string } }[] }
    return new Set(parsed.nftables.flatMap((item) => (item.rule?.comment ? [item.rule.comment] : [])))
  } catch {
    return null
  }
}
