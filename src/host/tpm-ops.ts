import { rm } from 'node:fs/promises'
import { HostCommandError } from '../lib/errors.js'
import { vmFiles } from '../model/layout.js'
import { run } from './exec.js'
import { isOurProcess, readPidFile, waitForExit } from './process.js'

/** The TPM emulator (Debian's and Ubuntu's package swtpm). */
export const SWTPM = { binary: 'swtpm', package: 'swtpm' } as const

type Files = ReturnType<typeof vmFiles>

/** How a VM's swtpm shows in /proc/PID/cmdline: its control socket, which is the VM's own. */
const swtpmMarker = (files: Files) => `type=unixio,path=${files.swtpmSocket},mode=0600`

/**
 * Starts the VM's swtpm, which QEMU then connects to (QEMU's sandbox forbids it to start one).
 * `--terminate`: it ends when QEMU closes the connection, so it lives exactly as long as its
 * QEMU, even one killed with SIGKILL. Its state, a single file, stays for the next start.
 */
export async function startSwtpm(runDir: string): Promise<void> {
  const files = vmFiles(runDir)
  // swtpm splits its options at commas and cannot escape one.
  if (runDir.includes(',')) {
    throw new HostCommandError([SWTPM.binary], undefined, `swtpm cannot use a path with a comma: ${runDir}`)
  }
  await stopSwtpm(runDir)
  await run(SWTPM.binary, [
    'socket',
    '--tpm2',
    '--tpmstate',
    `backend-uri=file://${files.tpmState},mode=0600`,
    '--ctrl',
    swtpmMarker(files),
    '--pid',
    `file=${files.swtpmPid}`,
    '--log',
    `file=${files.swtpmLog}`,
    '--daemon',
    '--terminate',
  ])
}

/** Is the VM's swtpm running? */
export function swtpmRunning(runDir: string): boolean {
  const files = vmFiles(runDir)
  const pid = readPidFile(files.swtpmPid)
  return pid !== null && isOurProcess(pid, swtpmMarker(files))
}

/** Stops the VM's swtpm if one still runs (its QEMU is gone, or never connected). */
export async function stopSwtpm(runDir: string): Promise<void> {
  const files = vmFiles(runDir)
  const pid = readPidFile(files.swtpmPid)
  if (pid !== null && isOurProcess(pid, swtpmMarker(files))) {
    process.kill(pid, 'SIGTERM')
    if (!(await waitForExit(pid, swtpmMarker(files), 3000))) {
      process.kill(pid, 'SIGKILL')
      await waitForExit(pid, swtpmMarker(files), 3000)
    }
  }
  await Promise.all([files.swtpmPid, files.swtpmSocket].map((f) => rm(f, { force: true })))
}

/** A VM without a TPM now has no TPM state: it goes on its restart, as the plan said. */
export async function dropTpmState(runDir: string): Promise<void> {
  const files = vmFiles(runDir)
  await stopSwtpm(runDir)
  await Promise.all([files.tpmState, files.swtpmLog].map((f) => rm(f, { force: true })))
}
