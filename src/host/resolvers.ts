import { readFileSync } from 'node:fs'

/** systemd-resolved's stub: the upstreams behind it are listed in its own resolv.conf. */
const STUB = '127.0.0.53'
const RESOLVED_UPSTREAMS = '/run/systemd/resolve/resolv.conf'

/**
 * The resolvers this host uses, which a NAT network's dnsmasq forwards outside names to:
 * /etc/resolv.conf's nameservers, or, when that names systemd-resolved's stub, the upstreams
 * behind it. `source` says which file they came from, for the plan.
 */
export function hostResolvers(): { servers: string[]; source: string } {
  const servers = nameservers('/etc/resolv.conf')
  if (servers.length > 0 && servers.every((s) => s === STUB)) {
    return { servers: nameservers(RESOLVED_UPSTREAMS), source: RESOLVED_UPSTREAMS }
  }
  return { servers, source: '/etc/resolv.conf' }
}

function nameservers(file: string): string[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return [...text.matchAll(/^\s*nameserver\s+([0-9a-fA-F.:]+)(?:%\S+)?\s*$/gm)].map((m) => m[1]!)
}
