import assert from 'node:assert/strict'
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { BIN, type CliResult, kvmctl, ROOT } from './cli.js'

export const GUEST = `${ROOT}examples/guest`
/** The Debian cloud guest of test/fixtures/build-debian-guest.sh (scripts/test.sh builds it). */
export const DEBIAN_GUEST = `${ROOT}examples/debian-guest`

/** A topology's images: block for the Debian guest booted directly (root file system + kernel). */
export const DEBIAN_IMAGE = `images:
  debian12:
    path: ${DEBIAN_GUEST}/rootfs.qcow2
    kernel: ${DEBIAN_GUEST}/vmlinuz
    initrd: ${DEBIAN_GUEST}/initrd.img
    cmdline: root=/dev/vda console=ttyS0`

/**
 * A sandbox for host tests: its own network namespace (so nothing it does is visible outside)
 * and a short temporary state directory (unix socket paths are limited to 108 bytes).
 * `cleanup()` removes both and ends every process in the namespace, also after a failure.
 */
export class TestHost {
  readonly netns = `kvmctl-t-${randomBytes(4).toString('hex')}`
  readonly dir = mkdtempSync('/tmp/kt-')
  readonly stateDir = `${this.dir}/s`

  constructor() {
    execFileSync('ip', ['netns', 'add', this.netns])
    this.ip('link', 'set', 'lo', 'up')
  }

  /** kvmctl inside the namespace, with this sandbox's state directory. */
  kvmctl(args: readonly string[], options: { input?: string } = {}): Promise<CliResult> {
    return kvmctl([...args, '--state-dir', this.stateDir], { netns: this.netns, ...options })
  }

  /** `kvmctl ssh VM -- COMMAND` in this sandbox (--state-dir before `--`: what follows is the command). */
  ssh(file: string, vm: string, command: string): Promise<CliResult> {
    return kvmctl(['ssh', vm, '-f', file, '--state-dir', this.stateDir, '--', command], { netns: this.netns })
  }

  /** The same, for a command that must succeed: its output, trimmed. */
  async sshOk(file: string, vm: string, command: string): Promise<string> {
    const result = await this.ssh(file, vm, command)
    assert.equal(result.code, 0, `${vm}: ${command}: ${result.stderr}`)
    return result.stdout.trim()
  }

  /** kvmctl in the background, inside the namespace: `ip netns exec` execs it in place, so the
   * child's pid is kvmctl's own (tests kill it). Its stderr is piped, the rest ignored. */
  spawn(args: readonly string[]): ChildProcessByStdio<null, null, Readable> {
    return spawn('ip', ['netns', 'exec', this.netns, BIN, ...args, '--state-dir', this.stateDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', CI: '1' },
    })
  }

  /** Writes a topology into the sandbox; `./guest/` points at the tiny guest. */
  topology(name: string, text: string): string {
    const path = `${this.dir}/${name}`
    writeFileSync(path, text.replaceAll('./guest/', `${GUEST}/`))
    return path
  }

  example(name: string): string {
    return this.topology(name, readFileSync(`${ROOT}examples/${name}`, 'utf8'))
  }

  ip(...args: string[]): string {
    return execFileSync('ip', ['-n', this.netns, ...args], { encoding: 'utf8' })
  }

  nft(...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.netns, 'nft', ...args], { encoding: 'utf8' })
  }

  sysctl(key: string, value: string): void {
    execFileSync('ip', ['netns', 'exec', this.netns, 'sysctl', '-q', '-w', `${key}=${value}`])
  }

  tc(...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.netns, 'tc', ...args], { encoding: 'utf8' })
  }

  links(): { ifname: string; ifalias?: string; mtu: number; master?: string }[] {
    return JSON.parse(this.ip('-j', '-d', 'link', 'show'))
  }

  /** The link a lab of this sandbox made for an address, found by its ownership marker. */
  link(lab: string, address: string) {
    return this.links().find((l) => l.ifalias === `kvmctl:${lab}:${address}:${this.stateDir}`)
  }

  pids(): number[] {
    return execFileSync('ip', ['netns', 'pids', this.netns], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
  }

  cleanup(): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    execFileSync('ip', ['netns', 'del', this.netns])
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Replaces `from` with `to` in a topology file; a `from` that is not there fails the test. */
export function editFile(path: string, from: string, to: string): void {
  const text = readFileSync(path, 'utf8')
  if (!text.includes(from)) throw new Error(`${path} does not contain ${JSON.stringify(from)}`)
  writeFileSync(path, text.replace(from, to))
}

/** The guest's last machine-readable line of a kind, parsed into key=value pairs. */
export function guestLine(log: string, kind: 'ready' | 'ping'): Record<string, string> | null {
  // A line may start with what the firmware printed before it (OVMF clears the screen).
  const lines = log
    .split(/\r?\n/)
    .filter((l) => l.includes(`KVMCTL-GUEST ${kind}`))
    .map((l) => l.slice(l.indexOf('KVMCTL-GUEST')))
  const last = lines.at(-1)
  if (!last) return null
  return Object.fromEntries(
    last
      .split(' ')
      .slice(2)
      .map((w) =>
        w.includes('=') ? [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)] : [w, 'true'],
      ),
  )
}

export async function waitFor<T>(
  what: string,
  probe: () => T | null | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = probe()
    if (value) return value
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
