import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { PieceReader, receiveImage } from '../host/image-cache.js'
import { KvmctlError } from '../lib/errors.js'
import { HostSide } from './host-side.js'
import { OPERATIONS, type Request, type Response } from './protocol.js'

/**
 * `kvmctl agent [--state-dir DIR]`: one host's side of a lab that spans hosts, started by a
 * controller over ssh (or as a child process for `local`), answering JSON lines on stdin with
 * JSON lines on stdout. `kvmctl agent put SHA256:BYTES... [--state-dir DIR]` takes the boot
 * files the controller sends on stdin, one after another, into the image cache. Not a command
 * for people, so not one of oclif's: bin/run.js starts it from a bundle of its own without the
 * CLI framework, which halves its start (every plan starts one per host).
 */
export async function runAgent(args: readonly string[]): Promise<void> {
  const at = args.indexOf('--state-dir')
  const stateDir = at >= 0 ? args[at + 1] : (process.env.KVMCTL_STATE_DIR ?? '/var/lib/kvmctl')
  const puts = args[0] === 'put' ? args.slice(1, at >= 0 ? at : args.length) : null
  const pieces = puts?.map((p) => /^([0-9a-f]{64}):(\d+)$/.exec(p))
  if (!stateDir || (puts === null && args.length !== (at >= 0 ? 2 : 0)) || pieces?.some((p) => !p)) {
    process.stderr.write(
      'usage: kvmctl agent [put SHA256:BYTES...] [--state-dir DIR] (started by kvmctl for a lab with hosts:)\n',
    )
    process.exitCode = 1
    return
  }
  // Sockets, logs, disks and records: readable by their owner only, as with apply.
  process.umask(0o077)
  if (pieces) {
    // Boot files the controller copies into this host's image cache: their bytes, one after
    // another, on stdin.
    const reader = new PieceReader(process.stdin)
    try {
      for (const [, sha256, bytes] of pieces as RegExpExecArray[])
        process.stdout.write(
          `${await receiveImage(resolve(stateDir), sha256!, reader.take(Number(bytes)))}\n`,
        )
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`)
      process.exitCode = 1
    }
    return
  }
  const host = new HostSide(stateDir)
  const answer = (response: Response) => process.stdout.write(`${JSON.stringify(response)}\n`)
  const pending: Promise<void>[] = []
  // Requests run as they come: the controller sends the steps of independent actions at once.
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim() === '') continue
    let request: Request
    try {
      request = JSON.parse(line) as Request
    } catch {
      answer({ id: -1, ok: false, error: { message: 'not a JSON line' } })
      continue
    }
    const { id, op, args: opArgs } = request
    if (!OPERATIONS.includes(op)) {
      answer({ id, ok: false, error: { message: `unknown operation ${JSON.stringify(op)}` } })
      continue
    }
    pending.push(
      (host[op] as (a: unknown) => Promise<unknown>)
        .call(host, opArgs ?? {})
        .then((result) => {
          answer({ id, ok: true, result })
        })
        .catch((error: Error) => {
          answer({
            id,
            ok: false,
            error: { message: error.message, hint: error instanceof KvmctlError ? error.hint : undefined },
          })
        }),
    )
  }
  // The controller closed the session: finish what runs; the lock goes with this process.
  await Promise.all(pending)
}
