import { open, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { vmFiles } from '../config/resolve.js'
import { KvmctlError } from '../errors.js'
import type { Topology, Vm } from '../model/types.js'

/** Where each VM's console log ended before apply: a restarted VM must be ready anew. */
export async function consoleOffsets(topology: Topology): Promise<Map<string, number>> {
  const sizes = await Promise.all(
    topology.vms.map(
      async (vm) => [vm.name, (await stat(vmFiles(vm.runDir).log).catch(() => null))?.size ?? 0] as const,
    ),
  )
  return new Map(sizes)
}

/**
 * Waits, for all VMs at once, until each VM with a `ready:` block is ready: its console shows
 * the `serial` pattern and its `tcp` port accepts a connection. `since` gives, per VM, where in
 * its console log to start looking (0 for a VM that was not restarted).
 */
export async function waitReady(
  topology: Topology,
  since: ReadonlyMap<string, number>,
  signal?: AbortSignal,
): Promise<void> {
  const waiting = topology.vms.filter((vm) => vm.ready && vm.state === 'running')
  const results = await Promise.allSettled(
    waiting.map((vm) => waitOne(topology, vm, since.get(vm.name) ?? 0, signal)),
  )
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []))
  if (failures.length > 0) {
    throw new KvmctlError(
      failures.join('\n\n'),
      'look at the console lines above, or attach with `kvmctl console VM`',
    )
  }
}

async function waitOne(topology: Topology, vm: Vm, offset: number, signal?: AbortSignal): Promise<void> {
  const ready = vm.ready!
  const deadline = Date.now() + ready.timeoutSeconds * 1000
  const pattern = ready.serial !== null ? new RegExp(ready.serial, 'm') : null
  const ip = topology.taps.find((t) => t.vm === vm.name && t.ip)?.ip ?? null
  let serialSeen = pattern === null
  let tcpSeen = ready.tcp === null
  while (Date.now() < deadline && !signal?.aborted) {
    if (!serialSeen) serialSeen = pattern!.test(await readFrom(vmFiles(vm.runDir).log, offset))
    if (!tcpSeen && ip) tcpSeen = await tcpOpen(ip, ready.tcp!)
    if (serialSeen && tcpSeen) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const waitedFor = [
    !serialSeen ? `serial /${ready.serial}/` : null,
    !tcpSeen ? (ip ? `tcp ${ip}:${ready.tcp}` : `tcp ${ready.tcp} (the VM has no ip to try)`) : null,
  ].filter(Boolean)
  const tail = (await readFrom(vmFiles(vm.runDir).log, 0)).split(/\r?\n/).slice(-21, -1)
  throw new KvmctlError(
    `vm/${vm.name} was not ready after ${ready.timeoutSeconds}s: waited for ${waitedFor.join(' and ')}\n` +
      `last console lines of vm/${vm.name}:\n${tail.map((l) => `  | ${l}`).join('\n')}`,
  )
}

async function readFrom(path: string, offset: number): Promise<string> {
  const handle = await open(path, 'r').catch(() => null)
  if (!handle) return ''
  try {
    const { size } = await handle.stat()
    if (size <= offset) return ''
    const buffer = Buffer.alloc(size - offset)
    await handle.read(buffer, 0, buffer.length, offset)
    return buffer.toString('utf8')
  } finally {
    await handle.close()
  }
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('timeout', () => done(false))
    socket.once('error', () => done(false))
  })
}
