import { createConnection } from 'node:net'
import { KvmctlError } from '../lib/errors.js'

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
