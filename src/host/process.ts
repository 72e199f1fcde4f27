import { readFileSync } from 'node:fs'

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
    if (!isOurProcess(pid, marker)) return true
    // A killed QEMU is gone within a few ms: look often.
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return !isOurProcess(pid, marker)
}
