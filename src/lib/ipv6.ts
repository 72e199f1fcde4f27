/** IPv6 addresses and networks as 128-bit integers: enough for cidr checks and the host address. */

export interface Cidr6 {
  readonly network: bigint
  readonly prefix: number
}

const ALL = (1n << 128n) - 1n

/** A textual IPv6 address (with at most one `::`, no embedded IPv4) as a number, or null. */
export function parseIp6(text: string): bigint | null {
  const halves = text.toLowerCase().split('::')
  if (halves.length > 2) return null
  const groups = (part: string) => (part === '' ? [] : part.split(':'))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]
  let value = 0n
  for (const group of all) {
    if (!/^[0-9a-f]{1,4}$/.test(group)) return null
    value = (value << 16n) | BigInt(Number.parseInt(group, 16))
  }
  return value
}

/** The canonical text of an address (RFC 5952): lower case, the longest run of zeros as `::`. */
export function formatIp6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn))
  let best = { start: -1, length: 1 }
  for (let i = 0; i < 8; i++) {
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > best.length) best = { start: i, length: j - i }
  }
  const hex = groups.map((g) => g.toString(16))
  if (best.start < 0) return hex.join(':')
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`
}

export function parseCidr6(text: string): (Cidr6 & { hostBitsSet: boolean }) | null {
  const [ip, prefixText, ...rest] = text.split('/')
  if (rest.length > 0 || ip === undefined || prefixText === undefined || !/^\d{1,3}$/.test(prefixText))
    return null
  const prefix = Number(prefixText)
  const address = parseIp6(ip)
  if (address === null || prefix > 128) return null
  const mask = (ALL << BigInt(128 - prefix)) & ALL
  const network = address & mask
  return { network, prefix, hostBitsSet: network !== address }
}

export const formatCidr6 = (cidr: Cidr6): string => `${formatIp6(cidr.network)}/${cidr.prefix}`

export function contains6(cidr: Cidr6, ip: bigint): boolean {
  return ip >> BigInt(128 - cidr.prefix) === cidr.network >> BigInt(128 - cidr.prefix)
}

/** The host's own address on the network: the first one, `prefix::1`. */
export const firstHost6 = (cidr: Cidr6): bigint => cidr.network + 1n
