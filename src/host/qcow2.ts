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
