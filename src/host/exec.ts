import { spawn } from 'node:child_process'
import { HostCommandError } from '../errors.js'

export interface RunOptions {
  readonly input?: string
  readonly timeoutMs?: number
}

export interface RunResult {
  readonly stdout: string
  readonly stderr: string
}

/**
 * The only place kvmctl runs programs: a file and an argument array, never a shell string.
 * A failure keeps the argv, the exit code and the program's own stderr.
 * (Node's own child_process rather than execa: importing execa costs ~250 ms, on every `plan`.)
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const argv = [file, ...args]
  const timeoutMs = options.timeoutMs ?? 120_000
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (d: Buffer) => stdout.push(d))
    child.stderr.on('data', (d: Buffer) => stderr.push(d))
    child.on('error', (error) =>
      reject(new HostCommandError(argv, undefined, error.message, { cause: error })),
    )
    child.on('close', (code, signal) => {
      const out = Buffer.concat(stdout).toString('utf8')
      const err = Buffer.concat(stderr).toString('utf8')
      if (code === 0) resolve({ stdout: out, stderr: err })
      else {
        const why = signal
          ? `${err}killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs} ms?)` : ''}`
          : err
        reject(new HostCommandError(argv, code ?? undefined, why))
      }
    })
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
  })
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
