/** IPv4 addresses and networks as 32-bit integers: enough for cidr checks and the host address. */

export interface Cidr {
  readonly network: number
  readonly prefix: number
}

export function parseIp(text: string): number | null {
  const parts = text.split('.')
  if (parts.length !== 4) return null
  let value = 0
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return null
    value = value * 256 + Number(part)
  }
  return value
}

export function formatIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')
}

export function parseCidr(text: string): (Cidr & { hostBitsSet: boolean }) | null {
  const [ip, prefixText, ...rest] = text.split('/')
  if (rest.length > 0 || ip === undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText))
    return null
  const prefix = Number(prefixText)
  const address = parseIp(ip)
  if (address === null || prefix > 32) return null
  const size = 2 ** (32 - prefix)
  const network = address - (address % size)
  return { network, prefix, hostBitsSet: network !== address }
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix)
}

export function contains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.network && ip < cidr.network + cidrSize(cidr)
}

export function broadcast(cidr: Cidr): number {
  return cidr.network + cidrSize(cidr) - 1
}

/** The first usable host address, which the host side of the bridge takes. */
export function firstHost(cidr: Cidr): number {
  return cidr.prefix >= 31 ? cidr.network : cidr.network + 1
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.network)}/${cidr.prefix}`
}
