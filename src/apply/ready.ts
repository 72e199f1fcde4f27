import { open, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { CLOUD_INIT_WAIT } from '../cloud-init/documents.js'
import { vmAddress } from '../host/addresses.js'
import { run } from '../host/exec.js'
import { sshOptions } from '../host/ssh-keys.js'
import { HostCommandError, KvmctlError } from '../lib/errors.js'
import { vmFiles } from '../model/layout.js'
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
 * the `serial` pattern, its `tcp` port accepts a connection, and its `ssh` command succeeds with
 * the lab's key. `since` gives, per VM, where in its console log to start looking (0 for a VM
 * that was not restarted).
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

/** How far a VM is with each of its probes. */
export interface Readiness {
  serial: boolean
  tcp: boolean
  ssh: boolean
  /** Where the tcp and ssh probes go: its fixed ip or its DHCP lease, once known. */
  ip: string | null
  /** What the ssh probe last saw. */
  sshDetail: string
}

export const isReady = (r: Readiness) => r.serial && r.tcp && r.ssh

/**
 * One round of a VM's probes, skipping those already passed: the serial pattern in its console
 * log from `offset`, the tcp port, then an ssh login (the dearest, so last, and only once sshd
 * listens). Throws when the VM can never be ready (cloud-init reported an error).
 */
export async function probeOnce(
  topology: Topology,
  vm: Vm,
  offset: number,
  r: Readiness,
  deadline: number,
): Promise<Readiness> {
  const ready = vm.ready!
  const next = { ...r }
  if (!next.serial)
    next.serial = new RegExp(ready.serial!, 'm').test(await readFrom(vmFiles(vm.runDir).log, offset))
  // The address may come from a DHCP lease that the guest has not asked for yet.
  if (!(next.tcp && next.ssh)) next.ip ??= await vmAddress(topology, vm)
  if (!next.tcp && next.ip) next.tcp = await tcpOpen(next.ip, ready.tcp!)
  if (!next.ssh && next.ip && next.serial && next.tcp && (await tcpOpen(next.ip, 22))) {
    const probe = await sshProbe(topology, vm, next.ip, deadline)
    next.ssh = probe.ok
    next.sshDetail = probe.detail
    if (probe.fatal) {
      throw new KvmctlError(
        `vm/${vm.name} will not be ready: \`${ready.ssh}\` over ssh ${probe.detail}`,
        `look inside with \`kvmctl ssh ${vm.name} -- sudo cloud-init status --long\``,
      )
    }
  }
  return next
}

/** Nothing passed yet, but the probes the VM's ready block does not ask for. */
export function notYetReady(vm: Vm): Readiness {
  const ready = vm.ready!
  return {
    serial: ready.serial === null,
    tcp: ready.tcp === null,
    ssh: ready.ssh === null,
    ip: null,
    sshDetail: 'no ssh server answered yet',
  }
}

async function waitOne(topology: Topology, vm: Vm, offset: number, signal?: AbortSignal): Promise<void> {
  const ready = vm.ready!
  const deadline = Date.now() + ready.timeoutSeconds * 1000
  let r = notYetReady(vm)
  while (Date.now() < deadline && !signal?.aborted) {
    r = await probeOnce(topology, vm, offset, r, deadline)
    if (isReady(r)) return
    await new Promise((resolve) => setTimeout(resolve, ready.ssh !== null ? 1000 : 250))
  }
  const address = r.ip ?? '(no address yet: no ip in the topology and no DHCP lease)'
  const waitedFor = [
    !r.serial ? `serial /${ready.serial}/` : null,
    !r.tcp ? `tcp ${address}:${ready.tcp}` : null,
    !r.ssh ? `ssh ${vm.sshUser}@${address} \`${ready.ssh}\` (${r.sshDetail})` : null,
  ].filter(Boolean)
  const tail = (await readFrom(vmFiles(vm.runDir).log, 0)).split(/\r?\n/).slice(-21, -1)
  throw new KvmctlError(
    `vm/${vm.name} was not ready after ${ready.timeoutSeconds}s: waited for ${waitedFor.join(' and ')}\n` +
      `last console lines of vm/${vm.name}:\n${tail.map((l) => `  | ${l}`).join('\n')}`,
  )
}

/**
 * Logs in with the lab's key and runs the ready command. ssh's own failures (exit 255: no
 * connection, key not installed yet) mean "not yet"; so does a failing user command. cloud-init
 * reporting an error is final: waiting longer would not change it.
 */
async function sshProbe(
  topology: Topology,
  vm: Vm,
  ip: string,
  deadline: number,
): Promise<{ ok: boolean; fatal: boolean; detail: string }> {
  const command = vm.ready!.ssh!
  const argv = [...sshOptions(topology.lab, topology.labDir, vm.name), `${vm.sshUser}@${ip}`, command]
  try {
    await run('ssh', argv, { timeoutMs: Math.max(1000, deadline - Date.now()) })
    return { ok: true, fatal: false, detail: 'ok' }
  } catch (error) {
    if (!(error instanceof HostCommandError)) throw error
    const said = error.stderr.trim().split('\n').slice(-1)[0] || `exit code ${error.exitCode}`
    if (error.exitCode === 255) return { ok: false, fatal: false, detail: `ssh: ${said}` }
    // Newer cloud-init exits 2 when it finished with warnings only ("degraded done").
    if (command === CLOUD_INIT_WAIT && error.exitCode === 2) return { ok: true, fatal: false, detail: 'ok' }
    const fatal = command === CLOUD_INIT_WAIT && error.exitCode === 1
    return {
      ok: false,
      fatal,
      detail: fatal ? 'says cloud-init finished with errors' : `exit code ${error.exitCode}: ${said}`,
    }
  }
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
