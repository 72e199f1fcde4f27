import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { PlanProblem } from '../lib/errors.js'
import { unreadableByInvoker } from '../lib/invoker.js'
import { readUserCache, writeUserCache } from '../lib/user-cache.js'
import { bootFiles, placeFiles } from '../model/placement.js'
import type { Topology } from '../model/types.js'

export interface FileDigest {
  readonly sha256: string
  readonly bytes: number
}

/** What identifies a file's content without reading it: changed by any write, rename or touch. */
interface Identity {
  readonly dev: string
  readonly ino: string
  readonly size: string
  readonly mtimeNs: string
  readonly ctimeNs: string
}

const KIND = 'digests'

/**
 * The sha256 of files this machine copies to other hosts (the boot files of a lab that spans
 * hosts), each read once: the user's cache keeps a file's digest with its device, inode, size,
 * mtime and ctime, and the next plan only stats it. A write changes mtime and ctime, even one
 * that sets mtime back (touch -r), so a file whose identity matches has the content it was hashed
 * with. Files are read as the person who ran kvmctl (sudo's user); one that cannot be read is
 * returned with the reason instead.
 */
export async function fileDigests(
  files: readonly string[],
): Promise<Map<string, FileDigest | { readonly problem: string }>> {
  const unique = [...new Set(files)]
  return new Map(await Promise.all(unique.map(async (file) => [file, await fileDigest(file)] as const)))
}

async function fileDigest(file: string): Promise<FileDigest | { problem: string }> {
  const why = unreadableByInvoker(file)
  if (why) return { problem: why }
  const st = await stat(file, { bigint: true })
  if (!st.isFile()) return { problem: 'is not a regular file' }
  const identity: Identity = {
    dev: String(st.dev),
    ino: String(st.ino),
    size: String(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
  }
  const cached = readUserCache(KIND, file) as (Identity & { sha256?: string }) | undefined
  const bytes = Number(st.size)
  if (cached?.sha256 && (Object.keys(identity) as (keyof Identity)[]).every((k) => cached[k] === identity[k]))
    return { sha256: cached.sha256, bytes }
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  const sha256 = hash.digest('hex')
  writeUserCache(KIND, file, { ...identity, sha256 }, 1024)
  return { sha256, bytes }
}

/**
 * The part of a host that is not this machine with its boot files placed in that host's image
 * cache (placeFiles), hashed here; a file that cannot be read here is a problem of its image.
 */
export async function withBootFiles(part: Topology): Promise<{ part: Topology; problems: PlanProblem[] }> {
  const files = bootFiles(part)
  const digests = await fileDigests(files.map((f) => f.source))
  const found = new Map<string, FileDigest>()
  const problems: PlanProblem[] = []
  for (const { what, source } of files) {
    const digest = digests.get(source)!
    if ('problem' in digest) {
      const [address, key] = what.split(' ')
      problems.push({
        address: address!,
        message: `${key} ${source} ${digest.problem}; check the path, which is relative to the topology file`,
      })
    } else found.set(source, digest)
  }
  return { part: placeFiles(part, found), problems }
}
