import { rename, rm } from 'node:fs/promises'
import { diskFiles } from '../model/layout.js'
import type { Disk } from '../model/types.js'
import { run } from './exec.js'
import { readDiskFile } from './qcow2.js'
import { qmpCommand } from './qmp.js'
import { type DiskRecord, writeJson } from './state.js'

/**
 * Creates a disk: its record first (so that a killed kvmctl leaves a file it knows is
 * its own), then the image under a temporary name, renamed into place when complete.
 */
export async function createDisk(labDir: string, disk: Disk): Promise<void> {
  await recordDisk(labDir, disk)
  const { image, partial } = diskFiles(labDir, disk.name, disk.format)
  const args = ['create', '-q', '-f', disk.format]
  if (disk.backingFile) {
    const backing = readDiskFile(disk.backingFile)
    args.push('-b', disk.backingFile, '-F', backing.format)
  }
  args.push(partial)
  if (disk.sizeBytes > 0) args.push(String(disk.sizeBytes))
  await run('qemu-img', args)
  await rename(partial, image)
}

/** Grows a disk: online through QMP when a running VM holds it, else with qemu-img. */
export async function growDisk(disk: Disk, holder: { qmp: string; node: string } | null): Promise<void> {
  if (holder) {
    await qmpCommand(holder.qmp, 'block_resize', { 'node-name': holder.node, size: disk.sizeBytes }, 10_000)
    return
  }
  await run('qemu-img', ['resize', '-q', '-f', disk.format, disk.path, String(disk.sizeBytes)])
}

/** Removes a disk of the lab, named by the layout: its image in the format it has, and its record. */
export async function deleteDisk(labDir: string, name: string, format: string): Promise<void> {
  const files = diskFiles(labDir, name, format)
  await rm(files.image, { force: true })
  await rm(files.partial, { force: true })
  await rm(files.record, { force: true })
}

/** Updates a disk's record (its protect flag) without touching its data. */
export async function recordDisk(labDir: string, disk: Disk): Promise<void> {
  await writeJson(diskFiles(labDir, disk.name, disk.format).record, {
    address: disk.address,
    format: disk.format,
    protect: disk.protect,
    image: disk.image,
  } satisfies DiskRecord)
}
