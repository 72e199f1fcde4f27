import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { BIN, STACK_LINE } from '../helpers/cli.js'
import { TestHost } from '../helpers/host.js'

const lab = (kernel = './guest/vmlinuz') => `
name: faults
defaults: { memory: 128M, shutdown_timeout: 2s }
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
  odd: { kernel: ${kernel}, initrd: ./guest/initrd.gz }
networks: { lan: {} }
vms:
  good: { image: tiny, cmdline: kv.name=good, nics: [{ network: lan }] }
  bad: { image: odd, nics: [{ network: lan }] }
`

describe('faults: strangers, frozen and dying QEMUs, a full disk', () => {
  let host: TestHost
  let file: string
  const pidOf = (vm: string) => Number(readFileSync(`${host.stateDir}/faults/vm-${vm}/qemu.pid`, 'utf8'))
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0)
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')
    } catch {
      return false
    }
  }

  before(() => {
    host = new TestHost()
    writeFileSync(`${host.dir}/not-a-kernel`, 'this is not a kernel\n')
    file = host.topology('faults.yaml', lab(`${host.dir}/not-a-kernel`))
  })
  after(() => host.cleanup())

  it('a QEMU that exits during start-up fails its step with its own message; the rest is made', async () => {
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(result.code, 1)
    assert.match(
      result.stderr,
      /vm\/bad: `qemu-system-x86_64 .*` failed: QEMU exited during start-up: qemu\S*: .+/,
    )
    assert.doesNotMatch(result.stderr, STACK_LINE)
    assert.ok(alive(pidOf('good')), 'the other VM was started')
    // Fixed, the next apply finishes the job.
    host.topology('faults.yaml', lab())
    const again = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(again.code, 0, again.stderr)
    // The bad VM's record was written before its start: now it restarts with the right kernel.
    assert.match(again.stdout, /~ restart vm\/bad\n\s+kernel\s+\S+not-a-kernel → \S+vmlinuz/)
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
  })

  it("a pid file that names a stranger's process: the VM is seen as stopped, and the stranger is never signalled", async () => {
    const stranger = spawn('sleep', ['300'], { stdio: 'ignore' })
    const goodPid = pidOf('good')
    process.kill(goodPid, 'SIGKILL')
    writeFileSync(`${host.stateDir}/faults/vm-good/qemu.pid`, `${stranger.pid}\n`)
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /~ update in-place vm\/good\n\s+state\s+stopped → running/)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.ok(alive(pidOf('good')) && pidOf('good') !== stranger.pid, 'a new QEMU runs')
    assert.equal(
      (await host.kvmctl(['destroy', '-f', file, '--auto-approve', '--target', 'vm/good'])).code,
      0,
    )
    assert.ok(alive(stranger.pid!), 'the stranger is alive')
    stranger.kill('SIGKILL')
    const back = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(back.code, 0, back.stdout + back.stderr)
  })

  it('a QEMU that does not answer QMP is unresponsive drift; apply replaces its process', async () => {
    const frozen = pidOf('good')
    process.kill(frozen, 'SIGSTOP')
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /~ update in-place vm\/good\n\s+state\s+unresponsive → running/)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.ok(!alive(frozen), 'the frozen process is gone')
    assert.ok(alive(pidOf('good')))
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  it('a full disk fails clearly, changes nothing it cannot finish, and apply repairs once there is room', async () => {
    const small = `${host.dir}/small`
    mkdirSync(small)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96k,mode=0700', 'tmpfs', small])
    try {
      const text = `name: full\nnetworks: { lan: {} }\ndisks:\n  a: { size: 1G }\n  b: { size: 1G }\n  c: { size: 1G }\n`
      writeFileSync(`${host.dir}/full.yaml`, text)
      const args = ['-f', `${host.dir}/full.yaml`, '--state-dir', small]
      const run = (command: string[]) =>
        new Promise<{ code: number; stderr: string }>((resolve) => {
          const child = spawn('ip', ['netns', 'exec', host.netns, BIN, ...command, ...args], {
            env: { ...process.env, NO_COLOR: '1' },
          })
          let stderr = ''
          child.stderr.on('data', (d) => (stderr += d))
          child.on('close', (code) => resolve({ code: code ?? -1, stderr }))
        })
      const full = await run(['apply', '--auto-approve'])
      assert.equal(full.code, 1)
      assert.match(full.stderr, /No space left on device|ENOSPC/i)
      assert.doesNotMatch(full.stderr, STACK_LINE)
      execFileSync('mount', ['-o', 'remount,size=8m', small])
      const repaired = await run(['apply', '--auto-approve'])
      assert.equal(repaired.code, 0, repaired.stderr)
      assert.equal((await run(['plan', '--detailed-exitcode'])).code, 0)
      assert.equal((await run(['destroy', '--auto-approve'])).code, 0)
    } finally {
      execFileSync('umount', [small])
    }
  })
})
