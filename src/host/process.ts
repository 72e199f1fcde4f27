import { readdirSync, readFileSync } from 'node:fs'
import { resourceOfDir } from '../model/layout.js'

/**
 * Is `pid` a live process started with `marker` among its arguments? A reused PID (another
 * program) is not ours, and a zombie (state Z, not yet reaped) is dead.
 */
export function isOurProcess(pid: number, marker: string): boolean {
  // Synchronous on purpose: /proc files are generated in memory, and 100 reads through libuv's
  // four-thread pool cost more than reading them here.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return (
      cmdline.split('\0').includes(marker) && processState(readFileSync(`/proc/${pid}/stat`, 'utf8')) !== 'Z'
    )
  } catch {
    return false
  }
}

/** Alive and not a zombie: a SIGKILLed process may linger as one until its parent reaps it. */
export function isAlive(pid: number): boolean {
  try {
    return processState(readFileSync(`/proc/${pid}/stat`, 'utf8')) !== 'Z'
  } catch {
    return false
  }
}

/** The state letter of /proc/PID/stat; the command name before it may hold spaces and parentheses. */
export function processState(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}

export function readPidFile(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10)
    return Number.isInteger(pid) && pid > 1 ? pid : null
  } catch {
    return null
  }
}

export async function waitForExit(pid: number, marker: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (hasEnded(pid, marker)) return true
    // A killed QEMU is gone within a few ms: look often.
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return hasEnded(pid, marker)
}

/**
 * Gone, a zombie, or another program on a reused pid. A process in the middle of exiting has
 * already let go of its memory (its command line reads empty) but maybe not yet of its files,
 * and with them the locks QEMU holds on its disk images: it has not ended, or a QEMU started
 * next on the same disks would fail to lock them (seen under load). Likewise a multithreaded
 * process's leader turns zombie while its other threads are still exiting, and they share its
 * file table: ended only when the leader is the last thread left (a `qemu-img snapshot -a` right
 * after a SIGKILL found QEMU's lock still held, once, in CI).
 */
export function hasEnded(pid: number, marker: string): boolean {
  try {
    if (processState(readFileSync(`/proc/${pid}/stat`, 'utf8')) === 'Z') return otherThreads(pid) === 0
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline !== '' && !cmdline.split('\0').includes(marker)
  } catch {
    return true
  }
}

/**
 * The QEMUs of a lab that run now, whatever its state files say: every process whose command
 * line names a pid file in one of the lab's VM directories (`-pidfile <lab>/vm-NAME/qemu.pid`).
 * Reads every process's command line, so only destroy asks: it must not report a lab gone while
 * a QEMU of it runs.
 */
export function labQemus(labDir: string): { pid: number; vm: string }[] {
  const found: { pid: number; vm: string }[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }
    const pidFile = argv[argv.indexOf('-pidfile') + 1]
    const vm = pidFile?.startsWith(`${labDir}/`) ? resourceOfPidFile(labDir, pidFile) : null
    if (vm && isAlive(Number(entry))) found.push({ pid: Number(entry), vm })
  }
  return found
}

function resourceOfPidFile(labDir: string, pidFile: string): string | null {
  const rest = pidFile.slice(labDir.length + 1).split('/')
  const dir = rest.length === 2 && rest[1] === 'qemu.pid' ? resourceOfDir(rest[0]!) : null
  return dir?.kind === 'vm' ? dir.name : null
}

/** Threads of `pid` other than its leader (0 when the process is gone). */
function otherThreads(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).filter((t) => t !== String(pid)).length
  } catch {
    return 0
  }
}
