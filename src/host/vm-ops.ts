import { constants } from 'node:fs'
import { chmod, copyFile, mkdir, open, readFile, rm, rmdir } from 'node:fs/promises'
import { HostCommandError } from '../lib/errors.js'
import { nvramOf, vmFiles } from '../model/layout.js'
import type { Vm } from '../model/types.js'
import { type Detached, spawnDetached } from './exec.js'
import { hasEnded, isOurProcess, readPidFile, waitForExit } from './process.js'
import { type Drive, type HostCapabilities, ovmfOf, qemuArgv } from './qemu-argv.js'
import { qmpCommand } from './qmp.js'
import { type VmRecord, writeJson } from './state.js'
import { dropTpmState, startSwtpm, stopSwtpm } from './tpm-ops.js'

const START_TIMEOUT_MS = 30_000

/**
 * Starts a VM's QEMU in its own session (so Ctrl-C in kvmctl's terminal does not reach it)
 * and returns once QMP answers. QEMU's own messages go to qemu.log in the run directory; if it
 * exits during start-up, its last lines are the error. The record is written first, so that
 * an interrupted start is seen, and finished, by the next apply.
 */
export async function startVm(
  lab: string,
  vm: Vm,
  drives: readonly Drive[],
  caps: HostCapabilities,
  record: VmRecord,
): Promise<number> {
  const files = vmFiles(vm.runDir)
  await mkdir(vm.runDir, { recursive: true, mode: 0o700 })
  await Promise.all([files.pid, files.qmp, files.serial].map((f) => rm(f, { force: true })))
  await writeJson(files.spec, record)
  if (vm.tpm) await startSwtpm(vm.runDir)
  const argv = qemuArgv(lab, vm, drives, caps)
  const logPath = files.qemuLog
  const log = await open(logPath, 'a', 0o600)
  let exited: Awaited<Detached['exited']> | null = null
  try {
    const child = spawnDetached(argv[0]!, argv.slice(1), log.fd)
    void child.exited.then((how) => {
      exited = how
    })
    const deadline = Date.now() + START_TIMEOUT_MS
    while (Date.now() < deadline) {
      if (exited) break
      const answered = await qmpCommand(files.qmp, 'query-status', undefined, 1000).then(
        () => true,
        () => false,
      )
      if (answered) {
        const pid = readPidFile(files.pid)
        if (pid !== null) return pid
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } finally {
    await log.close()
  }
  if (vm.tpm) await stopSwtpm(vm.runDir)
  const tail = (await readFile(logPath, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n')
  const how = exited as Awaited<Detached['exited']> | null
  const why = how?.error
    ? `QEMU could not be started: ${how.error}`
    : how
      ? `QEMU exited during start-up${how.signal ? ` (${how.signal})` : ''}`
      : `QEMU did not answer on QMP within ${START_TIMEOUT_MS / 1000} s`
  throw new HostCommandError(
    argv,
    how?.code ?? undefined,
    `${why}: ${tail || 'no message'} (log: ${logPath})`,
  )
}

/**
 * Stops a VM: ACPI power button and up to `gracefulSeconds` for the guest to shut down, then
 * QMP quit, then SIGKILL. `'kill'` goes straight to SIGKILL: for a VM whose disks all go too,
 * there is nothing to flush. A VM whose process is already gone is stopped.
 */
export async function stopVm(
  runDir: string,
  gracefulSeconds: number | 'kill',
  knownPid: number | null = null,
): Promise<void> {
  const files = vmFiles(runDir)
  // The pid observe found (a QEMU whose pid file is gone), else the pid file's.
  const pid = knownPid ?? readPidFile(files.pid)
  if (pid !== null && !hasEnded(pid, files.pid)) {
    if (gracefulSeconds !== 'kill') await stopGracefully(files, pid, gracefulSeconds)
    if (!hasEnded(pid, files.pid)) {
      process.kill(pid, 'SIGKILL')
      if (!(await waitForExit(pid, files.pid, 5000))) {
        throw new HostCommandError(['kill', '-KILL', String(pid)], undefined, 'the QEMU process did not end')
      }
    }
  }
  await Promise.all([files.pid, files.qmp, files.serial].map((f) => rm(f, { force: true })))
  // swtpm ends with its QEMU's connection; one whose QEMU never connected is stopped here.
  await stopSwtpm(runDir)
}

/** The power button (a paused guest cannot hear it) and up to `seconds` for the guest, then QMP quit. */
async function stopGracefully(
  files: ReturnType<typeof vmFiles>,
  pid: number,
  seconds: number,
): Promise<void> {
  const status = await qmpCommand<{ running: boolean }>(files.qmp, 'query-status').catch(() => null)
  if (seconds > 0 && status?.running) {
    await qmpCommand(files.qmp, 'system_powerdown').catch(() => {})
    await waitForExit(pid, files.pid, seconds * 1000)
  }
  if (isOurProcess(pid, files.pid)) {
    await qmpCommand(files.qmp, 'quit').catch(() => {})
    await waitForExit(pid, files.pid, 3000)
  }
}

/**
 * Cuts or restores NICs' carriers as their guests see them: QMP set_link on each NIC's netdev
 * (`net<index>`, which QEMU passes on to the NIC), while the VM runs, no restart.
 */
export async function setLinks(
  runDir: string,
  nics: readonly { index: number; up: boolean }[],
): Promise<void> {
  for (const nic of nics)
    await qmpCommand(vmFiles(runDir).qmp, 'set_link', { name: `net${nic.index}`, up: nic.up })
}

export async function pauseVm(runDir: string): Promise<void> {
  await qmpCommand(vmFiles(runDir).qmp, 'stop')
}

export async function resumeVm(runDir: string): Promise<void> {
  await qmpCommand(vmFiles(runDir).qmp, 'cont')
}

/** Removes what a deleted VM leaves in its run directory, and the directory when it is empty. */
export async function removeVmFiles(runDir: string): Promise<void> {
  const files = vmFiles(runDir)
  await Promise.all(
    [
      files.pid,
      files.qmp,
      files.serial,
      files.log,
      files.spec,
      files.qemuLog,
      files.seed,
      files.nvram,
      files.nvramSecureBoot,
    ].map((f) => rm(f, { force: true })),
  )
  await dropTpmState(runDir)
  await rm(files.seedWork, { recursive: true, force: true })
  await rmdir(runDir).catch(() => {})
}

/**
 * A uefi VM's NVRAM: a copy of OVMF's variables template made at its first start (owner only),
 * kept across restarts so that what the guest wrote there (boot entries, its own variables)
 * stays. The NVRAM of the other kind (with or without Secure Boot's keys), or any for a VM that
 * is bios now, goes, as the plan said; so does the TPM state of a VM without a TPM now.
 */
export async function prepareFirmware(vm: Vm): Promise<void> {
  const files = vmFiles(vm.runDir)
  const nvram = nvramOf(vm)
  const ovmf = ovmfOf(vm)
  await Promise.all(
    [files.nvram, files.nvramSecureBoot].filter((f) => f !== nvram).map((f) => rm(f, { force: true })),
  )
  if (!vm.tpm) await dropTpmState(vm.runDir)
  if (!nvram || !ovmf) return
  await copyFile(ovmf.vars, nvram, constants.COPYFILE_EXCL).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
  await chmod(nvram, 0o600)
}
