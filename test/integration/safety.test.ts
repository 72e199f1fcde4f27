import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { ensureVmKeys } from '../../src/host/ssh-keys.js'
import { sshFiles } from '../../src/model/layout.js'
import { kvmctl, STACK_LINE } from '../helpers/cli.js'
import { editFile, TestHost } from '../helpers/host.js'

const LAB = `
name: safety
defaults: { memory: 128M, shutdown_timeout: 2s }
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
networks: { lan: {} }
disks: { data: { size: 64M } }
vms:
  box:
    image: tiny
    cmdline: kv.name=box
    nics: [{ network: lan }]
    disks: [data]
    run_as: nobody
    ready: { serial: "KVMCTL-GUEST ready", timeout: 90s }
`

describe('safety: QEMU as another user, a host that changed under a saved plan, damaged state', () => {
  let host: TestHost
  let file: string
  const status = async () => JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout)

  before(() => {
    host = new TestHost()
    file = host.topology('safety.yaml', LAB)
  })
  after(() => host.cleanup())

  it('run_as: QEMU gives up root once set up, and the guest runs', async () => {
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    const pid = (await status()).vms[0].pid
    const user = execFileSync('ps', ['-o', 'user=', '-p', String(pid)], { encoding: 'utf8' }).trim()
    assert.equal(user, 'nobody')
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
  })

  it('a run_as user that does not exist stops the plan, naming it', async () => {
    const other = host.topology('nouser.yaml', LAB.replace('run_as: nobody', 'run_as: no-such-user'))
    const result = await host.kvmctl(['plan', '-f', other])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /vm\/box: run_as user "no-such-user" does not exist on this host/)
  })

  it('a tap that vanishes after a plan was saved: the saved plan is refused, a new apply repairs', async () => {
    editFile(file, 'memory: 128M', 'memory: 160M')
    const planFile = `${host.dir}/plan.json`
    assert.equal((await host.kvmctl(['plan', '-f', file, '--out', planFile])).code, 0)
    const tap = (await status()).taps[0].device
    host.ip('link', 'del', tap)
    const stale = await host.kvmctl(['apply', planFile, '-f', file, '--auto-approve'])
    assert.equal(stale.code, 1)
    assert.match(stale.stderr, /the host changed since .*plan\.json was made.*nothing was changed/)
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /tap\/box\.0: created/)
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
  })

  it('a truncated qcow2 stops the plan instead of being replaced; destroy still removes it, announced', async () => {
    const disk = `${host.stateDir}/safety/disks/data.qcow2`
    truncateSync(disk, 10)
    const result = await host.kvmctl(['plan', '-f', file])
    assert.equal(result.code, 1)
    assert.match(
      result.stderr,
      /disk\/data: .*data\.qcow2 is no longer a valid qcow2 file \(truncated or overwritten\?\); kvmctl will not replace it/,
    )
    assert.equal(statSync(disk).size, 10, 'untouched')
    const destroy = await host.kvmctl(['destroy', '-f', file, '--auto-approve'])
    assert.equal(destroy.code, 0, destroy.stderr)
    assert.match(destroy.stdout, /- delete disk\/data {2}destroys data/)
  })

  it('a state directory kvmctl cannot read is an error, never an empty host', async () => {
    writeFileSync(`${host.dir}/not-a-dir`, '')
    const result = await kvmctl(['plan', '-f', file, '--state-dir', `${host.dir}/not-a-dir`], {
      netns: host.netns,
    })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /not-a-dir is not a directory/)
    assert.doesNotMatch(result.stderr, STACK_LINE)
    assert.equal(readFileSync(`${host.dir}/not-a-dir`, 'utf8'), '')
  })

  it('SSH keys for three VMs made at once: one lab key, a host key each, all in known_hosts, owner-only', async () => {
    const labDir = `${host.dir}/keys-lab`
    const keys = await Promise.all(['a', 'b', 'c'].map((vm) => ensureVmKeys('keys', labDir, vm)))
    assert.equal(new Set(keys.map((k) => k.authorizedKey)).size, 1, 'one login key for the lab')
    assert.equal(new Set(keys.map((k) => k.hostPublicKey)).size, 3)
    const known = readFileSync(sshFiles(labDir).knownHosts, 'utf8').trim().split('\n')
    assert.deepEqual(
      known.map((line) => line.split(' ')[0]),
      ['kvmctl.keys.a', 'kvmctl.keys.b', 'kvmctl.keys.c'],
    )
    assert.equal(statSync(sshFiles(labDir).key).mode & 0o777, 0o600)
    assert.equal(statSync(sshFiles(labDir).dir).mode & 0o777, 0o700)
  })
})
