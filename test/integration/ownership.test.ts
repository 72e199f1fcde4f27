import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { guestLine, TestHost, waitFor } from '../helpers/host.js'

const NETWORKS_ONLY = `
name: netlab
networks:
  lan:
    cidr: 10.30.0.0/24
  wire: {}
`

// Two labs with the same VM and network names: only the lab name differs.
const twin = (lab: string, subnet: number) => `
name: ${lab}
defaults: { memory: 128M, shutdown_timeout: 5s }
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
networks:
  lan: { cidr: 10.${subnet}.0.0/24 }
vms:
  web:
    image: tiny
    cmdline: kv.name=web kv.ip=10.${subnet}.0.10/24 kv.ping=10.${subnet}.0.1
    nics: [{ network: lan, ip: 10.${subnet}.0.10 }]
    ready: { serial: "KVMCTL-GUEST ready", timeout: 60s }
`

describe('ownership, coexistence and concurrency', () => {
  let host: TestHost
  before(() => {
    host = new TestHost()
  })
  after(() => host.cleanup())

  it('refuses a name held by a bridge kvmctl does not own, and leaves that bridge alone', async () => {
    const file = host.topology('netlab.yaml', NETWORKS_ONLY)
    const plan = JSON.parse((await host.kvmctl(['plan', '-f', file, '--json'])).stdout)
    const bridge = plan.actions.find((a: { address: string }) => a.address === 'network/lan').desired.bridge
    host.ip('link', 'add', bridge, 'type', 'bridge')
    host.ip('link', 'set', bridge, 'mtu', '1400')

    for (const command of ['plan', 'apply']) {
      const result = await host.kvmctl(
        [command, '-f', file, '--auto-approve'].slice(0, command === 'plan' ? 3 : 4),
      )
      assert.equal(result.code, 1, `${command}: ${result.stdout}`)
      assert.match(
        result.stderr,
        new RegExp(`network/lan: host bridge "${bridge}" already exists and was not made by kvmctl`),
      )
    }
    const mine = host.links().find((l) => l.ifname === bridge)!
    assert.equal(mine.mtu, 1400, 'untouched')
    assert.equal(mine.ifalias, undefined)
    assert.equal(
      host.links().filter((l) => l.ifalias?.startsWith('kvmctl:')).length,
      0,
      'nothing else was made either',
    )
    host.ip('link', 'del', bridge)
  })

  it('two labs with the same names coexist, and destroying one leaves the other running', async () => {
    const a = host.topology('a.yaml', twin('lab-a', 41))
    const b = host.topology('b.yaml', twin('lab-b', 42))
    for (const file of [a, b]) {
      const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
      assert.equal(result.code, 0, result.stderr)
    }
    const logB = () => readFileSync(`${host.stateDir}/lab-b/vm-web/serial.log`, 'utf8')
    const ping = await waitFor('lab-b to ping its bridge', () => guestLine(logB(), 'ping'), 60_000)
    assert.equal(ping.ok, 'true', 'lab-b reaches its own bridge')
    const pidB = Number(readFileSync(`${host.stateDir}/lab-b/vm-web/qemu.pid`, 'utf8'))

    const destroy = await host.kvmctl(['destroy', '-f', a, '--auto-approve'])
    assert.equal(destroy.code, 0, destroy.stderr)
    assert.equal(existsSync(`${host.stateDir}/lab-a`), false)
    assert.ok(host.pids().includes(pidB), 'lab-b is still running')
    const planB = await host.kvmctl(['plan', '-f', b, '--detailed-exitcode'])
    assert.equal(planB.code, 0, planB.stdout)
    assert.ok(host.link('lab-b', 'network/lan') !== undefined)
    assert.ok(!host.links().some((l) => l.ifalias?.startsWith('kvmctl:lab-a:')))
    assert.equal((await host.kvmctl(['destroy', '-f', b, '--auto-approve'])).code, 0)
  })

  it('a second apply of the same lab fails at once, naming the holder of the lock', async () => {
    const file = host.topology('c.yaml', twin('lab-c', 43))
    const first = host.spawn(['apply', '-f', file, '--auto-approve', '--wait'])
    first.stderr.resume()
    const exited = new Promise((resolve) => first.on('close', resolve))
    // lab.json is written under the lock, once the plan is made.
    await waitFor(
      'the first apply to take the lock',
      () => existsSync(`${host.stateDir}/lab-c/lab.json`),
      10_000,
    )
    const holder = first.pid
    const began = Date.now()
    const second = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(second.code, 1)
    assert.match(second.stderr, new RegExp(`lab "lab-c" is locked by another kvmctl \\(pid ${holder}\\)`))
    assert.ok(Date.now() - began < 5000, 'at once')
    assert.equal(await exited, 0, 'the first apply finished')
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  it('ten applies at once, with an old-style lock file naming pid 1: one at a time, one does the work', async () => {
    const file = host.topology('d.yaml', twin('lab-d', 44))
    // An old lock file whose pid is alive but no kvmctl's: earlier versions waited on it for ever.
    mkdirSync(host.stateDir, { recursive: true })
    writeFileSync(`${host.stateDir}/lab-d.lock`, '1\n')
    const runs = await Promise.all(
      Array.from({ length: 10 }, () =>
        host.kvmctl(['apply', '-f', file, '--auto-approve', '--lock-timeout', '120']),
      ),
    )
    for (const run of runs) assert.equal(run.code, 0, run.stderr)
    // Two applies inside the lock together would both have created the lab's bridge, tap and VM
    // (and one of them failed on the bridge that already existed).
    const created = runs.filter((r) => /Apply complete: [1-9]\d* created/.test(r.stdout))
    const unchanged = runs.filter((r) => r.stdout.includes('No changes.'))
    assert.equal(created.length, 1, runs.map((r) => r.stdout).join('\n---\n'))
    assert.equal(unchanged.length, 9)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  it('an apply killed with SIGKILL mid-way is finished by the next apply, and destroy leaves nothing', async () => {
    const file = host.example('quickstart.yaml')
    for (const delayMs of [350, 450, 550]) {
      const run = host.spawn(['apply', '-f', file, '--auto-approve'])
      run.stderr.resume()
      const closed = new Promise((resolve) => run.on('close', resolve))
      await new Promise((resolve) => setTimeout(resolve, delayMs))
      run.kill('SIGKILL')
      await closed
    }
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const plan = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(plan.code, 0, plan.stdout)
    const destroy = await host.kvmctl(['destroy', '-f', file, '--auto-approve'])
    assert.equal(destroy.code, 0, destroy.stderr)
    assert.deepEqual(
      host
        .links()
        .filter((l) => l.ifalias?.startsWith('kvmctl:'))
        .map((l) => `${l.ifname} ${l.ifalias}`),
      [],
      `${apply.stderr}\n${destroy.stderr}`,
    )
    assert.deepEqual(host.pids(), [])
    assert.deepEqual(
      readdirSync(host.stateDir, { recursive: true }).filter((f) => String(f).startsWith('quickstart')),
      [],
    )
  })
})
