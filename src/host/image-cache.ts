import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KvmctlError } from '../lib/errors.js'
import { formatSize } from '../lib/units.js'
import { imageFiles } from '../model/layout.js'
import type { Image } from '../model/types.js'
import { lockImage } from './lock.js'
import { exists } from './state.js'

/**
 * The image cache: `<state-dir>/images/<digest>` (its sha256 or sha512 in hexadecimal), shared
 * by every lab on the host. A file there is complete and verified: a download goes to
 * `<digest>.partial` (resumed from where it
 * stopped when the server allows ranges), is hashed, and only renamed into place when its
 * digest is the one the topology (or its SUMS file) gives. A lock per image makes parallel jobs
 * download once.
 */

/** How long a second kvmctl waits for another one's download of the same image. */
const DOWNLOAD_LOCK_SECONDS = 3600
/** A server that sends nothing for this long has stalled: fail (the next apply resumes). */
const idleSeconds = () => Number(process.env.KVMCTL_DOWNLOAD_IDLE_SECONDS) || 60

export type ProgressReport = (received: number, total: number | null) => void

/** Makes sure a url image is in the cache: 'cached' when it was, 'downloaded' when it now is. */
export async function ensureImage(image: Image, progress?: ProgressReport): Promise<'cached' | 'downloaded'> {
  const path = image.path!
  if (await exists(path)) return 'cached'
  const lock = await lockImage(path, DOWNLOAD_LOCK_SECONDS, (holder) => {
    throw new KvmctlError(
      `image/${image.name}: another kvmctl (${holder}) has been downloading ${image.url} for over ${DOWNLOAD_LOCK_SECONDS} s`,
      'wait for it, or stop it; its partial download is resumed by the next apply',
    )
  })
  try {
    // Another job may have finished it while this one waited for the lock.
    if (await exists(path)) return 'cached'
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const partial = `${path}.partial`
    const [algorithm, wanted] = image.digest!.split(':') as [string, string]
    let hash = await download(image, partial, algorithm, progress)
    if (hash.actual !== wanted && hash.resumed) {
      // The part kept from an earlier try may not belong to this file: once more, from zero.
      await rm(partial, { force: true })
      hash = await download(image, partial, algorithm, progress)
    }
    if (hash.actual !== wanted) {
      await rm(partial, { force: true })
      const from = image.checksums ? `as ${image.checksums} says` : 'as the topology says'
      throw new KvmctlError(
        `image/${image.name}: the file at ${image.url} has ${algorithm} ${hash.actual}, not ${wanted} ${from}; it was deleted and nothing was started`,
        `check the url and the ${image.checksums ? 'checksums file' : algorithm} in the topology: kvmctl never uses an image that does not match`,
      )
    }
    await chmod(partial, 0o444)
    await rename(partial, path)
    return 'downloaded'
  } finally {
    await lock.release()
  }
}

/**
 * Reads a stream in pieces of known lengths, one after another: `take(n)` yields exactly the
 * next n bytes (fewer only when the stream ends first).
 */
export class PieceReader {
  private readonly chunks: AsyncIterator<unknown>
  private rest: Buffer | null = null

  constructor(input: AsyncIterable<unknown>) {
    this.chunks = input[Symbol.asyncIterator]()
  }

  async *take(bytes: number): AsyncGenerator<Buffer> {
    let left = bytes
    while (left > 0) {
      let chunk = this.rest
      this.rest = null
      if (!chunk) {
        const next = await this.chunks.next()
        if (next.done) return
        chunk = Buffer.from(next.value as Uint8Array)
      }
      if (chunk.length > left) {
        this.rest = chunk.subarray(left)
        chunk = chunk.subarray(0, left)
      }
      left -= chunk.length
      yield chunk
    }
  }
}

/**
 * A file another host's kvmctl copies here (a boot file of a lab that spans hosts, through
 * `kvmctl agent put`), read from `input` into the cache as `<state>/images/<sha256>`: written to
 * `.partial` and renamed into place only when its sha256 is the one it was sent under, like a
 * download. 'cached' when the cache had it already (what was sent is read and dropped).
 */
export async function receiveImage(
  stateDir: string,
  sha256: string,
  input: AsyncIterable<unknown>,
): Promise<'cached' | 'received'> {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new KvmctlError(`not a sha256: ${JSON.stringify(sha256)}`)
  const { path, partial } = imageFiles(stateDir, sha256)
  const drain = async () => {
    for await (const _ of input);
  }
  if (await exists(path)) return drain().then(() => 'cached')
  const lock = await lockImage(path, DOWNLOAD_LOCK_SECONDS, (holder) => {
    throw new KvmctlError(
      `another kvmctl (${holder}) has been writing ${path} for over ${DOWNLOAD_LOCK_SECONDS} s`,
    )
  })
  try {
    if (await exists(path)) return await drain().then(() => 'cached' as const)
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const hash = createHash('sha256')
    const file = await open(partial, 'w', 0o600)
    try {
      for await (const chunk of input) {
        await file.write(chunk as Uint8Array)
        hash.update(chunk as Uint8Array)
      }
    } finally {
      await file.close()
    }
    const actual = hash.digest('hex')
    if (actual !== sha256) {
      await rm(partial, { force: true })
      throw new KvmctlError(
        `the file sent as ${sha256} has sha256 ${actual}; it was deleted`,
        'the file changed while it was copied: run apply again',
      )
    }
    await chmod(partial, 0o444)
    await rename(partial, path)
    return 'received'
  } finally {
    await lock.release()
  }
}

/**
 * Downloads `url` into `partial`, continuing a partial file when there is one and the server
 * allows it, and returns the digest (sha256 or sha512) of the whole file.
 */
async function download(
  image: Image,
  partial: string,
  algorithm: string,
  progress?: ProgressReport,
): Promise<{ actual: string; resumed: boolean }> {
  const url = image.url!
  const hash = createHash(algorithm)
  const kept = (await stat(partial).catch(() => null))?.size ?? 0
  if (kept > 0) await hashFile(partial, hash)
  const stalled = new AbortController()
  const idle = setTimeout(() => stalled.abort(), idleSeconds() * 1000)
  const source = await openSource(url, kept, stalled.signal).catch((error) => {
    clearTimeout(idle)
    throw error
  })
  if (source.total !== null && source.total > image.maxSizeBytes) {
    clearTimeout(idle)
    await destroySource(source)
    throw tooBig(image)
  }
  const file = await open(partial, source.from > 0 ? 'a' : 'w', 0o600)
  let received = source.from
  // A server that ignored the range sends the whole file: hash it from its start.
  const fresh = source.from === 0 && kept > 0 ? createHash(algorithm) : hash
  try {
    for await (const chunk of source.body) {
      const bytes = chunk as Uint8Array
      await file.write(bytes)
      fresh.update(bytes)
      received += bytes.length
      if (received > image.maxSizeBytes) throw tooBig(image)
      progress?.(received, source.total)
      idle.refresh()
    }
  } catch (error) {
    if (error instanceof KvmctlError) {
      await destroySource(source)
      await rm(partial, { force: true })
      throw error
    }
    const why = stalled.signal.aborted
      ? `the server sent nothing for ${idleSeconds()} s`
      : (error as Error).message
    throw new KvmctlError(
      `downloading ${url} failed after ${received} bytes: ${why}`,
      'run apply again: the download continues where it stopped',
    )
  } finally {
    clearTimeout(idle)
    await file.close()
  }
  return { actual: fresh.digest('hex'), resumed: source.from > 0 }
}

interface Source {
  /** Where the body starts in the file: `kept` when the server continues, else 0. */
  readonly from: number
  readonly total: number | null
  readonly body: AsyncIterable<unknown>
}

async function openSource(url: string, kept: number, signal: AbortSignal): Promise<Source> {
  if (url.startsWith('file://')) {
    const path = fileURLToPath(url)
    const info = await stat(path).catch(() => null)
    if (!info) throw new KvmctlError(`${url} does not exist`, 'check the url in the topology')
    if (!info.isFile())
      throw new KvmctlError(`${url} is not a regular file`, 'a file:// url names an image file')
    const size = info.size
    const from = kept <= size ? kept : 0
    return { from, total: size, body: createReadStream(path, { start: from }) }
  }
  let response: Response
  try {
    response = await fetch(url, { headers: kept > 0 ? { range: `bytes=${kept}-` } : {}, signal })
  } catch (error) {
    const cause = signal.aborted
      ? `the server did not answer for ${idleSeconds()} s`
      : ((error as { cause?: Error }).cause?.message ?? (error as Error).message)
    throw new KvmctlError(`cannot download ${url}: ${cause}`, "check the url and this host's network")
  }
  if (response.status === 206 && kept > 0) {
    const total = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1]
    return { from: kept, total: total ? Number(total) : null, body: response.body! }
  }
  if (response.status === 416 && kept > 0) {
    // The kept part is as long as the file, or longer: start over.
    await response.body?.cancel()
    return openSource(url, 0, signal)
  }
  if (!response.ok) {
    await response.body?.cancel()
    throw new KvmctlError(
      `cannot download ${url}: HTTP ${response.status} ${response.statusText}`,
      'check the url',
    )
  }
  const length = response.headers.get('content-length')
  return { from: 0, total: length ? Number(length) : null, body: response.body! }
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
}

function tooBig(image: Image): KvmctlError {
  return new KvmctlError(
    `image/${image.name}: ${image.url} is larger than its max_size (${formatSize(image.maxSizeBytes)}); the download was stopped and removed, and nothing was started`,
    'check the url; if the image really is that large, raise max_size on the image',
  )
}

/** Stops reading a download's body (a file stream, or a fetch response's). */
async function destroySource(source: Source): Promise<void> {
  const body = source.body as { destroy?: () => void; cancel?: () => Promise<void> }
  if (typeof body.destroy === 'function') body.destroy()
  else await body.cancel?.().catch(() => {})
}
