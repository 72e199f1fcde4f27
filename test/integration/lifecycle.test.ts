import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { editFile, guestLine, TestHost } from '../helpers/host.js'

// The quickstart lab through its whole life, on a real host: two tiny guests on one bridge.
describe('quickstart lab on a real host', () => {
  let host: TestHost
  let file: string
  const log = (vm: string) => readFileSync(`${host.stateDir}/quickstart/vm-${vm}/serial.log`, 'utf8')
  const pid = (vm: string) => Number(readFileSync(`${host.stateDir}/quickstart/vm-${vm}/qemu.pid`, 'utf8'))
  const edit = (from: string, to: string) => editFile(file, from, to)

  before(() => {
    host = new TestHost()
    file = host.example('quickstart.yaml')
  })
  after(() => host.cleanup())

  it('apply boots two VMs that reach each other', async () => {
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /Apply complete: 7 created/)
    assert.equal(guestLine(log('alpha'), 'ping')?.ok, 'true', log('alpha'))
    assert.equal(guestLine(log('beta'), 'ping')?.ok, 'true', log('beta'))
    assert.deepEqual(guestLine(log('alpha'), 'ping'), { peer: '10.10.0.12', ok: 'true' })
  })

  it('plan then has no changes', async () => {
    const result = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /No changes\./)
  })

  it('a memory change restarts only that VM, keeping its boot disk', async () => {
    const betaPid = pid('beta')
    assert.equal(guestLine(log('alpha'), 'ready')?.boots, '1')
    edit('  alpha:\n    image: tiny\n', '  alpha:\n    image: tiny\n    memory: 384M\n')
    const plan = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(plan.code, 2, plan.stderr)
    assert.match(plan.stdout, /~ restart vm\/alpha\n\s+memory {2}256M → 384M {2}\(restart\)/)
    assert.doesNotMatch(plan.stdout, /vm\/beta/)
    assert.match(plan.stdout, /Plan: 0 to create, 0 to update, 1 to restart, 0 to replace, 0 to delete\./)

    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const ready = guestLine(log('alpha'), 'ready')!
    assert.ok(Number(ready.mem_kb) > 300_000, `the guest sees 384M now: ${ready.mem_kb} kB`)
    assert.equal(ready.boots, '2', 'the boot disk kept what the first boot wrote')
    assert.equal(pid('beta'), betaPid, 'the other VM was not restarted')
  })

  it('a new data disk is created and the VM restarted with it', async () => {
    edit('networks:', 'disks:\n  scratch:\n    size: 64M\n\nnetworks:')
    edit('    memory: 384M\n', '    memory: 384M\n    disks: [scratch]\n')
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /\+ create disk\/scratch/)
    assert.match(plan.stdout, /~ restart vm\/alpha\n\s+disks {2}\[\] → \[scratch\]/)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.match(guestLine(log('alpha'), 'ready')!.disks!, /^vda:\d+,vdb:131072$/, 'a 64M block device vdb')
  })

  it('repairs drift: a killed QEMU, a deleted tap, a bridge mtu changed by hand', async () => {
    process.kill(pid('beta'), 'SIGKILL')
    const tap = host.link('quickstart', 'tap/alpha.0')!
    host.ip('link', 'del', tap.ifname)
    const bridge = host.link('quickstart', 'network/lan')!
    host.ip('link', 'set', bridge.ifname, 'mtu', '1400')

    const plan = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(plan.code, 2)
    assert.match(plan.stdout, /~ update in-place vm\/beta\n\s+state {2}stopped → running/)
    assert.match(plan.stdout, /\+ create tap\/alpha\.0/)
    assert.match(plan.stdout, /~ restart vm\/alpha\n\s+nics .*\(tap gone\)/)
    assert.match(plan.stdout, /~ update in-place network\/lan\n\s+mtu {2}1400 → 1500/)
    const status = JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout)
    assert.equal(status.vms.find((v: { name: string }) => v.name === 'beta').state, 'stopped')
    assert.equal(status.drift.length, 4)

    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const again = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(again.code, 0, again.stdout)
    assert.equal(host.link('quickstart', 'network/lan')!.mtu, 1500)
    assert.equal(guestLine(log('beta'), 'ping')?.ok, 'true')
    assert.equal(guestLine(log('alpha'), 'ping')?.ok, 'true', 'alpha reaches beta through the new tap')
  })

  it('console attaches to a running VM', async () => {
    const result = await host.kvmctl(['console', 'beta', '-f', file, '--timeout', '2'], {
      input: 'echo console-$((6*7))\n',
    })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /console-42/)
  })

  it('destroy leaves no link, process, socket or disk of the lab', async () => {
    const result = await host.kvmctl(['destroy', '-f', file, '--auto-approve'])
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(
      host.links().filter((l) => l.ifalias?.startsWith('kvmctl:')),
      [],
    )
    assert.deepEqual(host.pids(), [])
    const left = existsSync(`${host.stateDir}/quickstart`)
      ? readdirSync(`${host.stateDir}/quickstart`, { recursive: true })
      : []
    assert.deepEqual(left, [])
  })
})
