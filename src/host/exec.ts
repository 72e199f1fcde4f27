import { accessSync, constants } from 'node:fs'
import type { Readable } from 'node:stream'
import { ExecaError, execa, type Options } from 'execa'
import { HostCommandError, KvmctlError } from '../lib/errors.js'

export interface RunOptions {
  /** The program's stdin: a text, or a stream piped to it as it comes. */
  readonly input?: string | Readable
  /** 0: no time limit. */
  readonly timeoutMs?: number
}

export interface RunResult {
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a program to its end through execa: a file and an argument array, never a shell string.
 * A failure is a HostCommandError that keeps the argv, the exit code and the program's own stderr.
 * (The other ways kvmctl starts programs: spawnDetached and converse below, and the commands
 * that hand the terminal to ssh or to a script, which use execa with inherited stdio.)
 */
export async function run(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 120_000
  try {
    const { stdout, stderr } = await execa(file, args, {
      input: options.input ?? '',
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      stripFinalNewline: false,
    })
    return { stdout, stderr }
  } catch (error) {
    throw hostCommandError([file, ...args], error, timeoutMs)
  }
}

/** Runs a command that prints JSON and returns it parsed. */
export async function runJson<T>(file: string, args: readonly string[]): Promise<T> {
  const { stdout } = await run(file, args)
  try {
    return JSON.parse(stdout) as T
  } catch (error) {
    throw new HostCommandError(
      [file, ...args],
      0,
      `printed output that is not JSON: ${stdout.slice(0, 200)}`,
      {
        cause: error,
      },
    )
  }
}

export interface Detached {
  readonly pid: number
  /** Settles when the program ends, with how it ended; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: string | null; error: string | null }>
}

export interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs a program whose exit code is an answer, not a failure (a command in a guest, through
 * ssh): its output is captured whole and, line by line as it comes, handed to `onLine`.
 */
export async function runCaptured(
  file: string,
  args: readonly string[],
  onLine: (stream: 'stdout' | 'stderr', line: string) => void = () => {},
  timeoutMs?: number,
): Promise<Captured & { timedOut: boolean }> {
  const child = execa(file, args, {
    reject: false,
    stdin: 'ignore',
    stripFinalNewline: false,
    ...(timeoutMs ? { timeout: timeoutMs, killSignal: 'SIGKILL' as const } : {}),
  })
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = ''
    child[stream]?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) onLine(stream, line)
    })
    child[stream]?.on('end', () => {
      if (partial) onLine(stream, partial)
    })
  }
  const result = await child
  if (result.exitCode === undefined && !result.signal)
    throw new KvmctlError(
      `cannot run ${file}: ${(result.cause as Error | undefined)?.message ?? result.shortMessage}`,
      'install it (apt-get install openssh-client for ssh and scp)',
    )
  return {
    code: result.exitCode ?? 255,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    timedOut: result.timedOut,
  }
}

/**
 * Starts a program that outlives kvmctl (QEMU): in its own session, so that Ctrl-C in kvmctl's
 * terminal does not reach it, with its output appended to `logFd`.
 */
export function spawnDetached(file: string, args: readonly string[], logFd: number): Detached {
  const options: Options = {
    detached: true,
    cleanup: false,
    // A file descriptor goes straight to the child (execa's types list only the numbers 3 to 9):
    // nothing is piped through kvmctl, which exits long before QEMU does.
    stdio: ['ignore', logFd, logFd] as unknown as Options['stdio'],
    reject: false,
  }
  const child = execa(file, args, options)
  child.unref()
  const exited = child.then((result) => ({
    code: result.exitCode ?? null,
    signal: result.signal ?? null,
    error:
      result.failed && result.exitCode === undefined && !result.signal
        ? ((result.cause as Error)?.message ?? result.shortMessage)
        : null,
  }))
  return { pid: child.pid ?? 0, exited }
}

export interface Conversation {
  readonly stdin: NodeJS.WritableStream
  readonly stdout: NodeJS.ReadableStream
  readonly stderr: NodeJS.ReadableStream
  /** Settles when the program ends, with how it ended; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: string | null; error: string | null }>
}

/**
 * Starts a program kvmctl talks with while it runs (ssh to a host's `kvmctl agent`): its stdin,
 * stdout and stderr are pipes, nothing is buffered. In a process group of its own, so that
 * Ctrl-C in kvmctl's terminal does not cut it (apply finishes the steps in flight); it ends
 * when its stdin does, also when kvmctl dies.
 */
export function converse(file: string, args: readonly string[]): Conversation {
  const child = execa(file, args, {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    detached: true,
  })
  const exited = child.then((result) => ({
    code: result.exitCode ?? null,
    signal: result.signal ?? null,
    error:
      result.failed && result.exitCode === undefined && !result.signal ? (result.shortMessage ?? null) : null,
  }))
  return { stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, exited }
}

/** An execa failure in kvmctl's words: argv, exit code, and what the program said. */
function hostCommandError(argv: readonly string[], error: unknown, timeoutMs: number): Error {
  if (!(error instanceof ExecaError)) return error as Error
  const stderr = typeof error.stderr === 'string' ? error.stderr : ''
  let why = stderr
  if (error.timedOut) why = `${stderr}killed after the timeout of ${timeoutMs} ms`
  else if (error.signal) why = `${stderr}killed by ${error.signal}`
  else if (error.exitCode === undefined)
    why = (error.cause as Error | undefined)?.message ?? error.shortMessage
  return new HostCommandError(argv, error.exitCode, why, { cause: error })
}

/**
 * Hands the terminal to a program (ssh, a builder script, tcpdump) and returns its exit code:
 * stdin, stdout and stderr are kvmctl's own. `missing` says how to install the program.
 */
export async function handOver(
  file: string,
  args: readonly string[],
  missing: string,
  options: { stdoutFile?: string } = {},
): Promise<number> {
  // stdout: kvmctl's, or a file that kvmctl writes (kvmctl capture -w).
  const stdout: Options['stdout'] = options.stdoutFile ? { file: options.stdoutFile } : 'inherit'
  const result = await execa(file, args, { stdin: 'inherit', stdout, stderr: 'inherit', reject: false })
  if (result.exitCode === undefined && !result.signal) {
    throw new KvmctlError(
      `cannot run ${file}: ${(result.cause as Error | undefined)?.message ?? result.shortMessage}`,
      missing,
    )
  }
  return result.exitCode ?? 255
}

/** Whether a program is on PATH, as execa would find it: for the checks that run before any step. */
export function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(`${dir || '.'}/${program}`, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}
