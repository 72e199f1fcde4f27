import { formatRate } from '../lib/units.js'
import type { Tap } from '../model/types.js'
import { run } from './exec.js'

/**
 * Link shaping on a tap's egress, which is the traffic going to the guest: tbf for a `rate`,
 * netem for delay/jitter/loss (with its own rate when both are asked for).
 */
export async function shapeTap(tap: Tap): Promise<void> {
  const root = ['qdisc', 'replace', 'dev', tap.device, 'root']
  if (tap.netem)
    await run('tc', [...root, 'netem', ...tap.netem.split(' '), ...(tap.rate ? ['rate', tap.rate] : [])])
  else if (tap.rate)
    await run('tc', [...root, 'tbf', 'rate', tap.rate, 'burst', '32kbit', 'latency', '400ms'])
  else await clearShaping(tap.device)
}

export async function clearShaping(device: string): Promise<void> {
  try {
    await run('tc', ['qdisc', 'del', 'dev', device, 'root'])
  } catch (error) {
    // No qdisc of ours to remove: the device has its default one.
    if (!/No such file|Cannot delete qdisc with handle of zero|Invalid handle/.test((error as Error).message))
      throw error
  }
}

interface QdiscJson {
  kind: string
  dev: string
  root?: boolean
  options?: { rate?: number; delay?: { delay: number; jitter: number }; 'loss-random'?: { loss: number } }
}

/** What shapes each tap now, as the fields `rate` and `netem`, from one `tc -j qdisc show`. */
export async function observeShaping(): Promise<Map<string, { rate: string | null; netem: string | null }>> {
  const shaping = new Map<string, { rate: string | null; netem: string | null }>()
  let qdiscs: QdiscJson[] = []
  try {
    qdiscs = JSON.parse((await run('tc', ['-j', 'qdisc', 'show'])).stdout) as QdiscJson[]
  } catch {
    return shaping
  }
  for (const q of qdiscs) {
    if (!q.root) continue
    // tc reports rates in bytes per second.
    if (q.kind === 'tbf') shaping.set(q.dev, { rate: formatRate((q.options?.rate ?? 0) * 8), netem: null })
    if (q.kind === 'netem') {
      shaping.set(q.dev, {
        rate: q.options?.rate ? formatRate(q.options.rate * 8) : null,
        netem: netemWords(q.options ?? {}),
      })
    }
  }
  return shaping
}

/** The netem options tc reports, in the words and order of the topology's (resolve.ts). */
function netemWords(options: NonNullable<QdiscJson['options']>): string {
  const ms = (seconds: number) => `${Math.round(seconds * 1e6) / 1e3}ms`
  const words: string[] = []
  if (options.delay?.delay)
    words.push('delay', ms(options.delay.delay), ...(options.delay.jitter ? [ms(options.delay.jitter)] : []))
  const loss = options['loss-random']?.loss
  if (loss) words.push('loss', `${Math.round(loss * 1e6) / 1e4}%`)
  return words.join(' ')
}

/** Does this kernel have a qdisc? Tried in a throwaway network namespace, so the host is untouched. */
export async function kernelHasQdisc(kind: 'netem' | 'tbf'): Promise<boolean> {
  const args =
    kind === 'netem'
      ? ['netem', 'delay', '1ms']
      : ['tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms']
  try {
    await run('unshare', ['--net', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', ...args])
    return true
  } catch {
    return false
  }
}
