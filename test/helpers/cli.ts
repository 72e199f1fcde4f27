import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The repository root (dist/test/helpers → ../../..). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const BIN = `${ROOT}bin/run.js`

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the real kvmctl binary (the checkout's, or `bin`), optionally inside a network namespace. */
export function kvmctl(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; netns?: string; input?: string; bin?: string } = {},
): Promise<CliResult> {
  const bin = options.bin ?? BIN
  const argv = options.netns ? ['ip', 'netns', 'exec', options.netns, bin, ...args] : [bin, ...args]
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}

/** A stack trace line, which a user must never see without KVMCTL_DEBUG=1. */
export const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m
