import { formatMiB, formatSize, parseSize } from '../lib/units.js'
import type { HostCapacity } from '../model/snapshot.js'
import type { Action } from './types.js'

/**
 * Will the host hold what this plan starts? Memory that new or restarted VMs add, against
 * what the host has available; vCPUs against cores; new disks against the state directory's
 * file system. A lab that does not fit would half-boot into the OOM killer.
 */
export function capacityWarnings(actions: readonly Action[], capacity: HostCapacity | null): string[] {
  if (!capacity) return []
  let memoryMiB = 0
  let cpus = 0
  let diskBytes = 0
  for (const action of actions) {
    const vm = action.desired?.type === 'vm' ? action.desired : null
    if (vm && vm.state !== 'stopped' && action.action !== 'delete') {
      const current = action.current?.type === 'vm' ? action.current.fields : null
      const before = !current || current.state === 'stopped' ? 0 : mib(current.memory)
      memoryMiB += Math.max(0, vm.memoryMiB - before)
      cpus = Math.max(cpus, vm.cpus)
    }
    const disk = action.desired?.type === 'disk' ? action.desired : null
    if (disk && (action.action === 'create' || action.action === 'replace')) diskBytes += disk.sizeBytes
    if (disk && action.action === 'update')
      diskBytes +=
        disk.sizeBytes - (action.current?.type === 'disk' ? (parseSize(action.current.fields.size) ?? 0) : 0)
  }
  const warnings: string[] = []
  if (memoryMiB > capacity.memoryAvailableMiB) {
    warnings.push(
      `this plan starts VMs with ${formatMiB(memoryMiB)} of memory, but the host has only ${formatMiB(capacity.memoryAvailableMiB)} available`,
    )
  }
  if (cpus > capacity.cpus)
    warnings.push(`a VM asks for ${cpus} vCPUs, but the host has ${capacity.cpus} cores`)
  if (diskBytes > capacity.diskAvailableBytes) {
    warnings.push(
      `the disks of this plan can grow to ${formatSize(diskBytes)}, but the state directory's file system has ${formatSize(Math.floor(capacity.diskAvailableBytes / 1024 ** 2) * 1024 ** 2)} free`,
    )
  }
  return warnings
}

function mib(value: unknown): number {
  const bytes = parseSize(value)
  return bytes === null ? 0 : bytes / 1024 ** 2
}
