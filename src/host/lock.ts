import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { KvmctlError } from '../errors.js'
import { processState } from './process.js'

export interface LabLock {
  release(): Promise<void>
}

/**
 * One apply or destroy at a time per lab: a lock file created exclusively, holding the
 * holder's pid. A lock whose holder is dead (a killed kvmctl) is taken over.
 */
export async function lockLab(stateDir: string, lab: string, timeoutSeconds: number): Promise<LabLock> {
  const path = `${stateDir}/${lab}.lock`
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const deadline = Date.now() + timeoutSeconds * 1000
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      return { release: () => rm(path, { force: true }) }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
    if (!Number.isInteger(holder) || !(await isAlive(holder))) {
      // The holder died without releasing it: take it over.
      await rm(path, { force: true })
      continue
    }
    if (Date.now() >= deadline) {
      throw new KvmctlError(
        `lab "${lab}" is locked by another kvmctl (pid ${holder}) that is applying or destroying it`,
        `wait for it to finish, or pass --lock-timeout SECONDS to wait here (lock file: ${path})`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** Alive and not a zombie: a SIGKILLed kvmctl may linger as one until its parent reaps it. */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  return stat !== null && processState(stat) !== 'Z'
}
