import { createConnection, type Socket } from 'node:net'
import { KvmctlError } from '../errors.js'

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

/**
 * A minimal QEMU Machine Protocol client: one JSON object a line; responses carry the id
 * of their command, events (which we do not need) are skipped.
 */
export class QmpClient {
  private buffer = ''
  private nextId = 1
  private readonly pending = new Map<string, Pending>()
  private greeted: Pending | null = null
  private closedError: Error | null = null

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => this.receive(chunk))
    socket.on('error', (error) => this.fail(error))
    socket.on('close', () => this.fail(new Error('QMP connection closed')))
  }

  static async connect(path: string, timeoutMs = 3000): Promise<QmpClient> {
    const socket = createConnection(path)
    const client = new QmpClient(socket)
    await withTimeout(
      new Promise((resolve, reject) => {
        client.greeted = { resolve, reject }
      }),
      timeoutMs,
      () => socket.destroy(),
      `QMP socket ${path} did not greet`,
    )
    await client.execute('qmp_capabilities', undefined, timeoutMs)
    return client
  }

  async execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = 10_000,
  ): Promise<T> {
    if (this.closedError) throw this.closedError
    const id = String(this.nextId++)
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }))
    this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`)
    return (await withTimeout(
      reply,
      timeoutMs,
      () => this.pending.delete(id),
      `QMP ${command} got no answer`,
    )) as T
  }

  close(): void {
    this.socket.destroy()
  }

  private receive(chunk: string) {
    this.buffer += chunk
    let newline = this.buffer.indexOf('\n')
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline).trim()
      this.buffer = this.buffer.slice(newline + 1)
      newline = this.buffer.indexOf('\n')
      if (!line) continue
      let message: { QMP?: unknown; id?: string; return?: unknown; error?: { desc?: string } }
      try {
        message = JSON.parse(line)
      } catch {
        continue
      }
      if (message.QMP && this.greeted) {
        this.greeted.resolve(undefined)
        this.greeted = null
      } else if (message.id !== undefined) {
        const waiter = this.pending.get(String(message.id))
        this.pending.delete(String(message.id))
        if (message.error) waiter?.reject(new KvmctlError(`QMP error: ${message.error.desc ?? 'unknown'}`))
        else waiter?.resolve(message.return)
      }
    }
  }

  private fail(error: Error) {
    this.closedError ??= error
    this.greeted?.reject(error)
    this.greeted = null
    for (const waiter of this.pending.values()) waiter.reject(error)
    this.pending.clear()
  }
}

/**
 * One command over a fresh connection, in one round trip: the capabilities negotiation and the
 * command are written at once (QEMU reads them in order once it has greeted), and the answer with
 * the command's id is the result. `plan` asks every VM this way, in parallel.
 */
export function qmpCommand<T = unknown>(
  path: string,
  command: string,
  args?: Record<string, unknown>,
  timeoutMs = 3000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const socket = createConnection(path)
    let buffer = ''
    const finish = (error: Error | null, value?: unknown) => {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(value as T)
    }
    const timer = setTimeout(
      () => finish(new KvmctlError(`QMP ${command} on ${path} got no answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
    socket.setEncoding('utf8')
    socket.on('connect', () => {
      socket.write(
        `{"execute":"qmp_capabilities"}\n${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id: 'kvmctl' })}\n`,
      )
    })
    socket.on('data', (chunk: string) => {
      buffer += chunk
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        let message: { id?: string; return?: unknown; error?: { desc?: string } }
        try {
          message = JSON.parse(line)
        } catch {
          continue
        }
        if (message.id !== 'kvmctl') continue
        if (message.error) finish(new KvmctlError(`QMP ${command}: ${message.error.desc ?? 'error'}`))
        else finish(null, message.return)
      }
    })
    socket.on('error', (error) => finish(error))
    socket.on('close', () =>
      finish(new KvmctlError(`QMP connection to ${path} closed before ${command} answered`)),
    )
  })
}

async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => void,
  message: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout()
      reject(new KvmctlError(`${message} within ${ms} ms`))
    }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
