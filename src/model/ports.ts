/**
 * Port forwards (`ports:` on a VM), as the topology writes them: `[LISTEN:]HOSTPORT:GUESTPORT[/tcp|udp]`,
 * like `8080:80` or `127.0.0.1:2222:22/tcp`. Pure: the schema checks the shape, this reads it.
 */
export interface PortSpec {
  /** The host address that takes connections, or null: every address of the host. */
  readonly listen: string | null
  readonly hostPort: number
  readonly guestPort: number
  readonly protocol: 'tcp' | 'udp'
}

const PORT = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/

export function parsePort(text: string): PortSpec | null {
  const m = PORT.exec(text)
  if (!m) return null
  return {
    listen: m[1] ?? null,
    hostPort: Number(m[2]),
    guestPort: Number(m[3]),
    protocol: (m[4] as 'tcp' | 'udp' | undefined) ?? 'tcp',
  }
}

/** Two forwards take the same host port when port and protocol match and their addresses meet. */
export function samePort(a: PortSpec, b: PortSpec): boolean {
  return (
    a.hostPort === b.hostPort &&
    a.protocol === b.protocol &&
    (a.listen === null || b.listen === null || a.listen === b.listen)
  )
}

/**
 * A forward as the plan shows it and its firewall rules are marked: `8080->10.0.0.5:80/tcp`,
 * `127.0.0.1:2222->10.0.0.5:22/tcp`. It names the guest's address, so that a new one is a change.
 */
export function forwardText(port: PortSpec, guestIp: string): string {
  return `${port.listen ? `${port.listen}:` : ''}${port.hostPort}->${guestIp}:${port.guestPort}/${port.protocol}`
}

/** The reverse of forwardText, for forwards found in another lab's rules. */
export function parseForwardText(text: string): PortSpec | null {
  const m = /^(?:([\d.]+):)?(\d+)->[\d.]+:(\d+)\/(tcp|udp)$/.exec(text)
  if (!m) return null
  return {
    listen: m[1] ?? null,
    hostPort: Number(m[2]),
    guestPort: Number(m[3]),
    protocol: m[4] as 'tcp' | 'udp',
  }
}
