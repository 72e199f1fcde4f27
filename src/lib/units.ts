/** Sizes and durations as the topology writes them: `512` (MiB), `512M`, `1.5G`, `30s`. */

const SIZE_FACTORS: Readonly<Record<string, number>> = {
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
}
const MIB = 1024 ** 2

export const SIZE_HINT = 'a size is an integer number of MiB or a number with K, M, G or T, like 512M or 2G'
export const DURATION_HINT =
  'a duration is a number of seconds or a number with ms, s, m or h, like 90s or 5m'

/** Bytes, or null when the text is not a size. A plain number counts MiB. */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isInteger(value) ? value * MIB : null
  if (typeof value !== 'string') return null
  const match = /^(\d+(?:\.\d+)?)([KMGT])$/.exec(value)
  if (!match) return /^\d+$/.test(value) ? Number(value) * MIB : null
  const bytes = Number(match[1]) * SIZE_FACTORS[match[2]!]!
  return Number.isInteger(bytes) ? bytes : null
}

/** Seconds, or null when the text is not a duration. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null
  if (typeof value !== 'string') return null
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value)
  if (!match) return null
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[match[2] ?? 's']!
  return Number(match[1]) * factor
}

/** The shortest exact way to write a size: 256M, 1G, 1536M, 4K. */
export function formatSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const factor = SIZE_FACTORS[unit]!
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`
  }
  return `${bytes}B`
}

export function formatMiB(mib: number): string {
  return formatSize(mib * MIB)
}

/** A tc rate (`10mbit`, `512kbit`, `1.5mbit`) in bits per second, or null. */
export function parseRate(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(text)
  if (!match) return null
  return Math.round(Number(match[1]) * { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[match[2] as 'bit'])
}

/** The one way kvmctl writes a rate, so that what the user wrote and what tc reports compare equal. */
export function formatRate(bitsPerSecond: number): string {
  for (const [unit, factor] of [
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    if (bitsPerSecond >= factor && bitsPerSecond % factor === 0) return `${bitsPerSecond / factor}${unit}`
  }
  return `${bitsPerSecond}bit`
}
