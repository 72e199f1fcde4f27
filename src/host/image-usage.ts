import { readdir, rm, stat } from 'node:fs/promises'
import { imageCacheDir, vmFiles } from '../model/layout.js'
import { imageLocked } from './lock.js'
import { readDiskFileOrNull } from './qcow2.js'
import { listDir, readRecord, type VmRecord, vmRecordProblem } from './state.js'

export interface CachedImage {
  /** `sha256:HEX` or `sha512:HEX`: the file's name in the cache says which. */
  readonly digest: string
  readonly path: string
  readonly bytes: number
  readonly downloaded: string
  /** The disks that use it as their backing file (`lab/disk`), the VMs that boot from it (`lab/vm-web`). */
  readonly usedBy: readonly string[]
}

/** A cache entry's name: a sha256 or a sha512 in hexadecimal. */
const DIGEST = /^[0-9a-f]{64}(?:[0-9a-f]{64})?$/

/** The cache's complete images, each with the disks of any lab on this host that use it. */
export async function listCachedImages(stateDir: string): Promise<CachedImage[]> {
  const dir = imageCacheDir(stateDir)
  const users = await imageUsers(stateDir)
  const entries = listDir(dir)
    .filter((f) => DIGEST.test(f))
    .sort()
  return Promise.all(
    entries.map(async (hex) => {
      const path = `${dir}/${hex}`
      const info = await stat(path)
      return {
        digest: `${hex.length === 128 ? 'sha512' : 'sha256'}:${hex}`,
        path,
        bytes: info.size,
        downloaded: info.mtime.toISOString(),
        usedBy: users.get(path) ?? [],
      }
    }),
  )
}

/**
 * Every disk of every lab under the state directory, by the backing file it names; and every
 * VM, by the kernel and initrd its record says it boots from (a lab across hosts boots from
 * copies in this cache). A record only ever keeps a file from being pruned.
 */
async function imageUsers(stateDir: string): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>()
  const use = (file: string, user: string) => users.set(file, [...(users.get(file) ?? []), user])
  const labs = (await readdir(stateDir, { withFileTypes: true }).catch(() => [])).filter(
    (d) => d.isDirectory() && d.name !== 'images',
  )
  for (const lab of labs) {
    const labDir = `${stateDir}/${lab.name}`
    for (const disk of listDir(`${labDir}/disks`).filter((f) => f.endsWith('.qcow2'))) {
      const info = readDiskFileOrNull(`${labDir}/disks/${disk}`)
      if (info?.backingFile) use(info.backingFile, `${lab.name}/${disk.replace(/\.qcow2$/, '')}`)
    }
    for (const dir of listDir(labDir).filter((f) => f.startsWith('vm-'))) {
      const read = readRecord<VmRecord>(vmFiles(`${labDir}/${dir}`).spec, vmRecordProblem)
      if (read.state !== 'ok') continue
      for (const file of new Set([read.record.fields.kernel, read.record.fields.initrd]))
        if (file) use(file, `${lab.name}/${dir}`)
    }
  }
  return users
}

/**
 * Removes cached images no disk or VM uses, and partial downloads nobody is making (no live lock).
 * Returns what it removed.
 */
export async function pruneImages(stateDir: string, dryRun: boolean): Promise<string[]> {
  const dir = imageCacheDir(stateDir)
  const removed: string[] = []
  for (const image of await listCachedImages(stateDir)) {
    if (image.usedBy.length > 0) continue
    if (!dryRun) await rm(image.path, { force: true })
    removed.push(image.path)
  }
  for (const file of listDir(dir)) {
    const sha = file.replace(/\.partial$/, '')
    if (!file.endsWith('.partial') || !DIGEST.test(sha)) continue
    if (await imageLocked(`${dir}/${sha}`)) continue
    if (!dryRun) await rm(`${dir}/${file}`, { force: true })
    removed.push(`${dir}/${file}`)
  }
  return removed
}
