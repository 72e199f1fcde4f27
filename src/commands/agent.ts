import { createInterface } from 'node:readline'
import { BaseCommand } from '../base-command.js'
import { HostSide } from '../cluster/host-side.js'
import { OPERATIONS, type Request, type Response } from '../cluster/protocol.js'
import { KvmctlError } from '../lib/errors.js'

export default class Agent extends BaseCommand<typeof Agent> {
  static override hidden = true
  static override summary = "One host's side of a lab that spans hosts: JSON lines on stdin and stdout."
  static override description =
    'Started by kvmctl itself, over ssh or as a child process, for each host of a topology with hosts:. Not for people.'

  async run(): Promise<void> {
    // Sockets, logs, disks and records: readable by their owner only, as with apply.
    process.umask(0o077)
    const host = new HostSide(this.flags['state-dir'])
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
      const { id, op, args } = request
      if (!OPERATIONS.includes(op)) {
        answer({ id, ok: false, error: { message: `unknown operation ${JSON.stringify(op)}` } })
        continue
      }
      pending.push(
        (host[op] as (a: unknown) => Promise<unknown>)
          .call(host, args ?? {})
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
}
