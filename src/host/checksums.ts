import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { fileURLToPath } from 'node:url'
import { asInvoker } from '../lib/invoker.js'
import type { Address, Topology } from '../model/types.js'

/** How long a SUMS file may take to come: `plan` waits for it. */
const FETCH_TIMEOUT_MS = 30_000

/**
 * The digests that images with `checksums` get from their SUMS files, as distributions publish
 * them (`HEX  NAME` or `HEX *NAME` per line): the entry for the file name of the image's url. The
 * algorithm is the file's (SHA256SUMS, SHA512SUMS), else the digest's length says. A SUMS file
 * that cannot be had, or has no entry for the image, is a problem: the plan stops before any step.
 */
export async function imageDigests(
  topology: Topology,
  names: readonly string[] = topology.vms.flatMap((vm) => (vm.image ? [vm.image] : [])),
): Promise<{ digests: Record<string, string>; problems: { address: Address; message: string }[] }> {
  const used = new Set(names)
  const wanted = Object.values(topology.images).filter((i) => i.checksums && !i.digest && used.has(i.name))
  const digests: Record<string, string> = {}
  const problems: { address: Address; message: string }[] = []
  await Promise.all(
    wanted.map(async (image) => {
      const address = `image/${image.name}`
      let text: string
      try {
        text = await fetchText(image.checksums!)
      } catch (error) {
        problems.push({
          address,
          message: `cannot read the checksums file ${image.checksums}: ${(error as Error).message}`,
        })
        return
      }
      const file = decodeURIComponent(basename(new URL(image.url!).pathname))
      const entry = sumsEntry(text, file)
      if (!entry) {
        problems.push({
          address,
          message: `${image.checksums} has no entry for ${file} (the file name of the image's url); check the url and the checksums file`,
        })
        return
      }
      const algorithm = /sha512/i.test(image.checksums!)
        ? 'sha512'
        : /sha256/i.test(image.checksums!)
          ? 'sha256'
          : entry.length === 128
            ? 'sha512'
            : 'sha256'
      const expected = algorithm === 'sha512' ? 128 : 64
      if (entry.length !== expected) {
        problems.push({
          address,
          message: `${image.checksums} gives ${file} a digest that is no ${algorithm}`,
        })
        return
      }
      digests[image.name] = `${algorithm}:${entry}`
    }),
  )
  return { digests, problems }
}

/** The digest a SUMS file gives `file`, in lowercase, or null. */
export function sumsEntry(text: string, file: string): string | null {
  for (const line of text.split('\n')) {
    const match = /^([0-9a-fA-F]{64}|[0-9a-fA-F]{128})\s+\*?(.+?)\s*$/.exec(line)
    if (match && (match[2] === file || basename(match[2]!) === file)) return match[1]!.toLowerCase()
  }
  return null
}

async function fetchText(url: string): Promise<string> {
  // A file the topology names is read as the person who ran kvmctl (sudo's user).
  if (url.startsWith('file://')) return asInvoker(() => readFileSync(fileURLToPath(url), 'utf8'))
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`)
  return response.text()
}
