import { createInterface } from 'node:readline'
import { type Conversation, converse } from '../host/exec.js'
import { KvmctlError } from '../lib/errors.js'
import { LOCAL_SSH } from '../model/placement.js'
import type { LabHost } from '../model/types.js'
import type { Operations, Request, Response } from './protocol.js'
import { sshArgv } from './ssh.js'

/** The connection to a host broke while a request was out: what it did is not known. */
export class HostLostError extends KvmctlError {
  constructor(
    readonly host: string,
    readonly detail: string,
    /** How the session's process ended, when it did: 127 is the remote shell's "command not found". */
    readonly exitCode: number | null = null,
  ) {
    super(
      `outcome unknown: the connection to host ${host} was lost (${detail})`,
      `run \`kvmctl plan\` once ${host} is reachable again: it observes ${host} anew, and \`kvmctl apply\` finishes the work`,
    )
  }
}

export interface SessionOptions {
  /** An ssh_config to use instead of the user's (--ssh-config, KVMCTL_SSH_CONFIG). */
  readonly sshConfig: string | null
  /** The state directory of a `local` host without state_dir: the controller's own. */
  readonly localStateDir: string
  /** A line the agent wrote on its stderr (download progress, ssh's own messages). */
  readonly onStderr: (host: string, line: string) => void
}

/**
 * One host's `kvmctl agent`, over ssh or, for `local`, as a child process of this kvmctl:
 * requests out as JSON lines, answers matched by id, several in flight at once. Each call is
 * typed by the Operations the agent implements (src/cluster/host-side.ts).
 */
export class HostSession {
  private readonly child: Conversation
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  private nextId = 1
  private lost: HostLostError | null = null
  private readonly stderrTail: string[] = []
  private readonly exited: Promise<void>

  constructor(
    readonly host: LabHost,
    options: SessionOptions,
  ) {
    const agent = ['agent', ...(host.stateDir ? ['--state-dir', host.stateDir] : [])]
    const [file, ...args] =
      host.ssh === LOCAL_SSH
        ? [process.execPath, process.argv[1]!, 'agent', '--state-dir', host.stateDir ?? options.localStateDir]
        : ['ssh', ...sshArgv(host.ssh, [host.kvmctl, ...agent], options.sshConfig)]
    this.child = converse(file!, args)
    createInterface({ input: this.child.stdout }).on('line', (line) => this.answer(line))
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      this.stderrTail.push(line)
      if (this.stderrTail.length > 10) this.stderrTail.shift()
      options.onStderr(host.name, line)
    })
    // A host that went away must not stop kvmctl from exiting with its report.
    this.child.stdin.on('error', () => {})
    this.exited = this.child.exited.then(({ code, signal, error }) => {
      const how =
        error ??
        (signal ? `killed by ${signal}` : `${host.ssh === LOCAL_SSH ? 'kvmctl' : 'ssh'} exited with ${code}`)
      this.fail([how, ...this.stderrTail.slice(-3)].join(': '), code)
    })
  }

  request<K extends keyof Operations>(op: K, args: Parameters<Operations[K]>[0]): ReturnType<Operations[K]> {
    if (this.lost) return Promise.reject(this.lost) as ReturnType<Operations[K]>
    const id = this.nextId++
    const request: Request = { id, op, args }
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.child.stdin.write(`${JSON.stringify(request)}\n`)
    }) as ReturnType<Operations[K]>
  }

  /** Ends the session: the agent finishes and exits, and with it goes the lab's lock there. */
  async close(): Promise<void> {
    this.child.stdin.end()
    await this.exited
  }

  private answer(line: string): void {
    let response: Response
    try {
      response = JSON.parse(line) as Response
    } catch {
      // Not the agent speaking (a shell's greeting in a dotfile): kept for an error's words, never parsed.
      this.stderrTail.push(line)
      return
    }
    const waiter = this.waiting.get(response.id)
    if (!waiter) return
    this.waiting.delete(response.id)
    if (response.ok) waiter.resolve(response.result)
    else waiter.reject(new KvmctlError(response.error.message, response.error.hint))
  }

  private fail(detail: string, exitCode: number | null = null): void {
    this.lost ??= new HostLostError(this.host.name, detail, exitCode)
    for (const waiter of this.waiting.values()) waiter.reject(this.lost)
    this.waiting.clear()
  }
}
