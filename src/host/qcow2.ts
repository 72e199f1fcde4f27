import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import type { DiskFormat } from '../model/types.js'

export interface DiskFileInfo {
  readonly format: DiskFormat
  readonly virtualBytes: number
  /** Bytes the file really takes on disk (sparse and qcow2 files take less). */
  readonly actualBytes: number
  readonly backingFile: string | null
}

const QCOW2_MAGIC = 0x514649fb

/**
 * Reads a disk file's format, virtual size and backing file from its first bytes: the
 * qcow2 header (magic, backing file offset and length, size) or a raw file's length.
 * Much cheaper than starting `qemu-img info` for every disk on every plan.
 */
export function readDiskFile(path: string): DiskFileInfo {
  // Synchronous on purpose: a few bytes of a local file; `plan` reads every disk of the lab, and
  // four round trips through libuv's thread pool per disk cost more than the reads themselves.
  const fd = openSync(path, 'r')
  try {
    const stat = fstatSync(fd)
    const actualBytes = stat.blocks * 512
    const header = Buffer.alloc(32)
    const bytesRead = readSync(fd, header, 0, 32, 0)
    if (bytesRead < 32 || header.readUInt32BE(0) !== QCOW2_MAGIC) {
      return { format: 'raw', virtualBytes: stat.size, actualBytes, backingFile: null }
    }
    const backingOffset = Number(header.readBigUInt64BE(8))
    const backingLength = header.readUInt32BE(16)
    let backingFile: string | null = null
    if (backingOffset > 0 && backingLength > 0 && backingLength < 4096) {
      const name = Buffer.alloc(backingLength)
      readSync(fd, name, 0, backingLength, backingOffset)
      backingFile = name.toString('utf8')
    }
    return { format: 'qcow2', virtualBytes: Number(header.readBigUInt64BE(24)), actualBytes, backingFile }
  } finally {
    closeSync(fd)
  }
}

/** readDiskFile, or null for a file that is gone or cannot be read. */
export function readDiskFileOrNull(path: string): DiskFileInfo | null {
  try {
    return readDiskFile(path)
  } catch {
    return null
  }
}

/**
 * The names (tags) of a qcow2 file's internal snapshots, from its snapshot table (qcow2 spec,
 * "Snapshots"): what `qemu-img snapshot -l` lists, without a process, and readable while QEMU
 * has the file open. A raw file has none.
 */
export function readSnapshotNames(path: string): string[] {
  const fd = openSync(path, 'r')
  try {
    const header = Buffer.alloc(72)
    if (readSync(fd, header, 0, 72, 0) < 72 || header.readUInt32BE(0) !== QCOW2_MAGIC) return []
    const count = header.readUInt32BE(60)
    let offset = Number(header.readBigUInt64BE(64))
    const names: string[] = []
    for (let i = 0; i < Math.min(count, 65536); i++) {
      const entry = Buffer.alloc(40)
      readSync(fd, entry, 0, 40, offset)
      const idSize = entry.readUInt16BE(12)
      const nameSize = entry.readUInt16BE(14)
      const extraSize = entry.readUInt32BE(36)
      const rest = Buffer.alloc(extraSize + idSize + nameSize)
      readSync(fd, rest, 0, rest.length, offset + 40)
      names.push(rest.subarray(extraSize + idSize).toString('utf8'))
      // Each entry is padded to a multiple of 8 bytes.
      offset += Math.ceil((40 + rest.length) / 8) * 8
    }
    return names
  } finally {
    closeSync(fd)
  }
}
