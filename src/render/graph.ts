import type { Network, Topology } from '../model/types.js'

const id = (kind: string, name: string) => `${kind}_${name.replace(/-/g, '_')}`

function networkLabel(network: Network): string[] {
  if (network.external) return [network.name, `external bridge ${network.bridge}`]
  return [
    network.name,
    ...(network.p2p ? ['p2p wire'] : []),
    ...(network.cidr ? [network.cidr] : []),
    ...(network.dhcp ? ['dhcp'] : []),
  ]
}

function nicLabel(topology: Topology, vm: string, index: number): string {
  const tap = topology.taps.find((t) => t.vm === vm && t.index === index)!
  // The NIC as the guest names it (VM:NAME in kvmctl capture), and its fixed address.
  return tap.ip ? `${tap.guestName} ${tap.ip}` : tap.guestName
}

/** Mermaid flowchart: GitHub and most Markdown viewers draw it. */
export function renderMermaid(topology: Topology): string {
  const lines = ['flowchart LR']
  for (const network of topology.networks) {
    lines.push(`  ${id('net', network.name)}{{"${networkLabel(network).join('<br/>')}"}}`)
  }
  if (topology.networks.some((n) => n.nat)) lines.push('  outside(("outside (NAT)"))')
  for (const vm of topology.vms) {
    const disks = vm.disks.map((d) => d.slice('disk/'.length))
    const label = [
      vm.name,
      `${vm.cpus} vCPU, ${vm.memoryMiB} MiB`,
      ...(disks.length ? [`disks: ${disks.join(', ')}`] : []),
    ]
    lines.push(`  ${id('vm', vm.name)}["${label.join('<br/>')}"]`)
  }
  for (const tap of topology.taps) {
    lines.push(
      `  ${id('vm', tap.vm)} ---|"${nicLabel(topology, tap.vm, tap.index)}"| ${id('net', tap.network)}`,
    )
  }
  for (const network of topology.networks.filter((n) => n.nat))
    lines.push(`  ${id('net', network.name)} -.->|NAT| outside`)
  return `${lines.join('\n')}\n`
}

/** Graphviz DOT: `kvmctl graph --format dot | dot -Tsvg > lab.svg`. */
export function renderDot(topology: Topology): string {
  const q = (s: string) => JSON.stringify(s)
  const lines = [`graph ${q(topology.lab)} {`, '  rankdir=LR;', '  node [fontname="Helvetica"];']
  for (const network of topology.networks) {
    lines.push(`  ${q(network.address)} [shape=hexagon, label=${q(networkLabel(network).join('\n'))}];`)
  }
  if (topology.networks.some((n) => n.nat))
    lines.push('  "outside" [shape=doublecircle, label="outside (NAT)"];')
  for (const vm of topology.vms) {
    lines.push(
      `  ${q(vm.address)} [shape=box, style=rounded, label=${q(`${vm.name}\n${vm.cpus} vCPU, ${vm.memoryMiB} MiB`)}];`,
    )
  }
  for (const tap of topology.taps) {
    lines.push(
      `  ${q(`vm/${tap.vm}`)} -- ${q(`network/${tap.network}`)} [label=${q(nicLabel(topology, tap.vm, tap.index))}];`,
    )
  }
  for (const network of topology.networks.filter((n) => n.nat)) {
    lines.push(`  ${q(network.address)} -- "outside" [style=dashed, label="NAT"];`)
  }
  lines.push('}')
  return `${lines.join('\n')}\n`
}
