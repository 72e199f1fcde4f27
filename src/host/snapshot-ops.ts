import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { KvmctlError } from '../lib/errors.js'
import { snapshotFiles, vmFiles } from '../model/layout.js'
import { type SnapshotRecord, snapshotRecordProblem } from '../model/saved-state.js'
import { run } from './exec.js'
import { isOurProcess, readPidFile } from './process.js'
import { readSnapshotNames } from './qcow2.js'
import { qmpCommand } from './qmp.js'
import { listDir, readRecord, writeJson } from './state.js'

/**
 * Snapshots on the host. A snapshot lives inside the disks' qcow2 files as internal snapshots
 * (tag `kvmctl-<name>`), the VM's memory and device state in its boot disk's: QEMU's own
 * snapshot-save and snapshot-load jobs, which write and read while the VM is paused, with no file
 * of kvmctl's to keep consistent and nothing to copy; the disks' blocks are shared, copy on write.
 * (Migration to a file was the other way: it writes all the memory out and needs the disks
 * snapshotted beside it, kvmctl keeping the two consistent.)
 */

/** A running QEMU of a VM and its command line, or null. */
export function runningQemu(runDir: string): { pid: number; argv: string[] } | null {
  const files = vmFiles(runDir)
  const pid = readPidFile(files.pid)
  if (pid === null || !isOurProcess(pid, files.pid)) return null
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    argv.pop()
    return { pid, argv }
  } catch {
    return null
  }
}

/** The block nodes on a QEMU command line (kvmctl's -blockdev JSON): name, file, format. */
export function blockNodes(
  argv: readonly string[],
): { node: string; path: string; format: string; readOnly: boolean }[] {
  const nodes = []
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-blockdev') continue
    try {
      const spec = JSON.parse(argv[i + 1]!) as {
        driver: string
        'node-name': string
        'read-only'?: boolean
        file?: { filename?: string }
      }
      nodes.push({
        node: spec['node-name'],
        path: spec.file?.filename ?? '',
        format: spec.driver,
        readOnly: spec['read-only'] === true,
      })
    } catch {}
  }
  return nodes
}

/**
 * A QMP job to its end: started with a job id, polled (each poll a fresh connection, as every
 * QMP call of kvmctl), its error if it failed, then dismissed.
 */
async function qmpJob(qmp: string, command: string, args: Record<string, unknown>): Promise<void> {
  const id = `kvmctl-${command}-${process.pid}`
  await qmpCommand(qmp, command, { 'job-id': id, ...args })
  const deadline = Date.now() + 600_000
  for (;;) {
    const jobs = await qmpCommand<{ id: string; status: string; error?: string }[]>(qmp, 'query-jobs')
    const job = jobs.find((j) => j.id === id)
    if (!job) throw new KvmctlError(`QMP ${command}: the job disappeared`)
    if (job.status === 'concluded') {
      await qmpCommand(qmp, 'job-dismiss', { id })
      if (job.error) throw new KvmctlError(`QMP ${command}: ${job.error}`)
      return
    }
    if (Date.now() > deadline) throw new KvmctlError(`QMP ${command} did not end within 10 minutes`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Memory, devices and the disks `nodes` (the first holds the memory), of a paused VM. */
export function saveVmState(runDir: string, tag: string, nodes: readonly string[]): Promise<void> {
  return qmpJob(vmFiles(runDir).qmp, 'snapshot-save', { tag, vmstate: nodes[0], devices: nodes })
}

/** The reverse: the VM's memory, devices and disks as they were at the save; it stays paused. */
export function loadVmState(runDir: string, tag: string, nodes: readonly string[]): Promise<void> {
  return qmpJob(vmFiles(runDir).qmp, 'snapshot-load', { tag, vmstate: nodes[0], devices: nodes })
}

/** A disk-only snapshot of the disks a running (paused) QEMU has open. */
export async function snapshotOpenDisks(
  runDir: string,
  tag: string,
  nodes: readonly string[],
): Promise<void> {
  for (const node of nodes)
    await qmpCommand(vmFiles(runDir).qmp, 'blockdev-snapshot-internal-sync', { device: node, name: tag })
}

/** Removes a snapshot from a disk a running QEMU has open (qemu-img may not write to it then). */
export async function deleteFromOpenDisk(runDir: string, node: string, tag: string): Promise<void> {
  await qmpCommand(vmFiles(runDir).qmp, 'blockdev-snapshot-delete-internal-sync', { device: node, name: tag })
}

/** The same three on a disk no QEMU has open. */
export const snapshotClosedDisk = (path: string, tag: string) =>
  run('qemu-img', ['snapshot', '-c', tag, path])
export const revertClosedDisk = (path: string, tag: string) => run('qemu-img', ['snapshot', '-a', tag, path])
export const deleteFromClosedDisk = (path: string, tag: string) =>
  run('qemu-img', ['snapshot', '-d', tag, path])

/** Whether a disk file holds a snapshot of this tag (read from its snapshot table, no process). */
export function diskHasTag(path: string, tag: string): boolean {
  try {
    return readSnapshotNames(path).includes(tag)
  } catch {
    return false
  }
}

/** The lab's snapshot records, by name; a damaged one is reported, not hidden. */
export function readSnapshots(labDir: string): { records: SnapshotRecord[]; damaged: string[] } {
  const { dir, record } = snapshotFiles(labDir)
  const records: SnapshotRecord[] = []
  const damaged: string[] = []
  for (const file of listDir(dir).sort()) {
    if (!file.endsWith('.json')) continue
    const read = readRecord<SnapshotRecord>(record(file.slice(0, -5)), snapshotRecordProblem)
    if (read.state === 'ok') records.push(read.record)
    else if (read.state === 'damaged') damaged.push(`${dir}/${file}: ${read.why}`)
  }
  return { records, damaged }
}

export function writeSnapshotRecord(labDir: string, record: SnapshotRecord): Promise<void> {
  return writeJson(snapshotFiles(labDir).record(record.name), record)
}

export function removeSnapshotRecord(labDir: string, name: string): Promise<void> {
  return rm(snapshotFiles(labDir).record(name), { force: true })
}
