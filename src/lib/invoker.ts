import { closeSync, openSync } from 'node:fs'

/**
 * Who asked for this run: the user behind sudo when root runs kvmctl through it (SUDO_UID,
 * SUDO_GID, SUDO_USER), else null (the user running kvmctl asked for it, and the kernel already
 * holds it to its own rights).
 */
export function invoker(
  env: NodeJS.ProcessEnv = process.env,
): { uid: number; gid: number; user: string } | null {
  const uid = Number(env.SUDO_UID)
  const gid = Number(env.SUDO_GID)
  if (process.geteuid?.() !== 0 || !Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) return null
  return { uid, gid, user: env.SUDO_USER || String(uid) }
}

/**
 * Runs `work` with the invoker's rights (effective user, group and groups), then root's again:
 * the files a topology names are read as the person who wrote the command, so that a topology
 * cannot make root read what its author may not (`user_data: /etc/shadow`). Synchronous on
 * purpose: nothing else of kvmctl runs while the rights are lowered.
 */
export function asInvoker<T>(work: () => T): T {
  const who = invoker()
  if (!who) return work()
  const groups = process.getgroups!()
  const egid = process.getegid!()
  try {
    try {
      // Node has initgroups(3) on POSIX; @types/node leaves it out.
      ;(process as unknown as { initgroups(user: string, group: number): void }).initgroups(who.user, who.gid)
    } catch {
      // A SUDO_USER unknown here: the invoker's own group alone.
      process.setgroups!([who.gid])
    }
    process.setegid!(who.gid)
    process.seteuid!(who.uid)
    return work()
  } finally {
    process.seteuid!(0)
    process.setegid!(egid)
    process.setgroups!(groups)
  }
}

/** Why the invoker cannot read `path` (it is missing, or not theirs to read), or null when they can. */
export function unreadableByInvoker(path: string): string | null {
  const who = invoker()
  return asInvoker(() => {
    try {
      closeSync(openSync(path, 'r'))
      return null
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return 'does not exist'
      return code === 'EACCES' || code === 'EPERM'
        ? `cannot be read by ${who ? `user ${who.user}, who ran kvmctl through sudo` : 'the user running kvmctl'}`
        : `cannot be read (${code})`
    }
  })
}
