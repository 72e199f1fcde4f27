import { createHash } from 'node:crypto'
import { connect, createServer, type Server } from 'node:net'
import { KvmctlError } from '../lib/errors.js'

export interface HostLock {
  release(): Promise<void>
}

/**
 * One apply or destroy at a time per lab name. The lock covers what the lab's names cover: its
 * bridges, taps and nftables table, which live in this network namespace, whatever the state
 * directory.
 */
export function lockLab(lab: string, timeoutSeconds: number): Promise<HostLock> {
  return lockName(`lab/${lab}`, timeoutSeconds, (holder) => {
    throw new KvmctlError(
      `lab "${lab}" is locked by another kvmctl (${holder}) that is applying or destroying it`,
      'wait for it to finish, or pass --lock-timeout SECONDS to wait here',
    )
  })
}

/** One download into the image cache file `path` at a time. */
export function lockImage(path: string, timeoutSeconds: number, busy: (holder: string) => never) {
  return lockName(`image/${digest(path)}`, timeoutSeconds, busy)
}

/** Whether somebody holds the download lock of an image cache file. */
export async function imageLocked(path: string): Promise<boolean> {
  return (await holderOf(socketName(`image/${digest(path)}`))).held
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32)
const socketName = (name: string) => `\0kvmctl/${name}`

/**
 * A lock held by binding a unix socket in Linux's abstract namespace: only one process can bind a
 * name, and the kernel frees it when that process ends, however it ends. So a killed kvmctl
 * leaves no stale lock, and there is no takeover for two waiters to race on (the lock files of
 * earlier versions had that race). The holder answers a connection with its pid, which the
 * waiter names in its message. The namespace is the network namespace's, as the lab's links are.
 */
async function lockName(
  name: string,
  timeoutSeconds: number,
  busy: (holder: string) => never,
): Promise<HostLock> {
  const deadline = Date.now() + timeoutSeconds * 1000
  for (;;) {
    const server = await bind(socketName(name))
    if (server) {
      return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) }
    }
    if (Date.now() >= deadline) {
      const { pid } = await holderOf(socketName(name))
      busy(pid === null ? 'pid unknown' : `pid ${pid}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** A server bound to the name, or null when another process has it. */
function bind(address: string): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.end(`${process.pid}\n`))
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(null) : reject(error),
    )
    server.listen(address, () => {
      // The lock must not keep kvmctl running once its work is done.
      server.unref()
      resolve(server)
    })
  })
}

/** Whether somebody holds the lock, and its pid when it says it within a second. */
function holderOf(address: string): Promise<{ held: boolean; pid: number | null }> {
  return new Promise((resolve) => {
    const socket = connect(address)
    let text = ''
    const done = (held: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ held, pid: held ? Number.parseInt(text, 10) || null : null })
    }
    const timer = setTimeout(() => done(true), 1000)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('end', () => done(true))
    // Nobody listens (ECONNREFUSED): the name is free.
    socket.on('error', () => done(false))
  })
}
