import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { KvmctlError } from '../lib/errors.js'
import { isAlive } from './process.js'
import { removeFilesOfDeadPids } from './state.js'

export interface LabLock {
  release(): Promise<void>
}

/** One apply or destroy at a time per lab. */
export function lockLab(stateDir: string, lab: string, timeoutSeconds: number): Promise<LabLock> {
  return lockFile(`${stateDir}/${lab}.lock`, timeoutSeconds, (holder, path) => {
    throw new KvmctlError(
      `lab "${lab}" is locked by another kvmctl (pid ${holder}) that is applying or destroying it`,
      `wait for it to finish, or pass --lock-timeout SECONDS to wait here (lock file: ${path})`,
    )
  })
}

/**
 * A lock file created exclusively, holding the holder's pid. A lock whose holder is dead (a
 * killed kvmctl) is taken over. `busy` is called when the wait is over and it is still held.
 */
export async function lockFile(
  path: string,
  timeoutSeconds: number,
  busy: (holder: number, path: string) => never,
): Promise<LabLock> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const deadline = Date.now() + timeoutSeconds * 1000
  for (;;) {
    // The pid is written first and the file linked into place: link() is atomic and fails on
    // an existing lock, so nobody ever reads a lock file without its holder's pid.
    const temporary = `${path}.${process.pid}`
    await writeFile(temporary, `${process.pid}\n`, { mode: 0o600 })
    try {
      await link(temporary, path)
      // `<lock>.<pid>` files of kvmctls killed while taking the lock.
      const prefix = `${basename(path)}.`
      removeFilesOfDeadPids(dirname(path), (f) =>
        f.startsWith(prefix) ? Number(f.slice(prefix.length)) : Number.NaN,
      )
      return { release: () => rm(path, { force: true }) }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    } finally {
      await rm(temporary, { force: true })
    }
    const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
    if (!Number.isInteger(holder) || !isAlive(holder)) {
      // The holder died without releasing it: take it over.
      await rm(path, { force: true })
      continue
    }
    if (Date.now() >= deadline) busy(holder, path)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
