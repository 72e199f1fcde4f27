import { stat } from 'node:fs/promises'
import type { ChalkInstance } from 'chalk'
import { ensureImage } from '../host/image-cache.js'
import type { Topology } from '../model/types.js'

const MIB = 1024 * 1024

/**
 * Downloads the images the plan announced, one after another, before any step runs: a wrong
 * digest then stops apply before anything on the host changed. On a terminal a progress bar,
 * elsewhere a line at the start and one at the end.
 */
export async function downloadImages(
  topology: Topology,
  names: readonly string[],
  style: ChalkInstance,
  write: (text: string) => void,
): Promise<void> {
  const tty = process.stderr.isTTY && !process.env.CI
  for (const name of names) {
    const image = topology.images[name]!
    const started = Date.now()
    let last = 0
    write(`image/${name}: downloading ${image.url}${tty ? '' : '...\n'}`)
    const outcome = await ensureImage(
      image,
      tty
        ? (received, total) => {
            if (Date.now() - last < 100) return
            last = Date.now()
            write(`\r\x1b[2Kimage/${name}: ${bar(received, total)}`)
          }
        : undefined,
    )
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const what =
      outcome === 'cached'
        ? 'downloaded meanwhile by another kvmctl'
        : `${((await stat(image.path!)).size / MIB).toFixed(1)} MiB in ${seconds} s, ${image.digest!.split(':')[0]} verified`
    write(`${tty ? '\r\x1b[2K' : ''}image/${name}: ${style.green('ready')} (${what})\n`)
  }
}

function bar(received: number, total: number | null): string {
  const mib = `${(received / MIB).toFixed(1)}${total ? `/${(total / MIB).toFixed(1)}` : ''} MiB`
  if (!total) return mib
  const width = 30
  const done = Math.min(width, Math.round((received / total) * width))
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${Math.floor((received / total) * 100)}% ${mib}`
}
