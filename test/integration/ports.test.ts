import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { editFile, guestLine, TestHost, waitFor } from '../helpers/host.js'

// A guest service reached through the host: from another machine (a namespace behind a veth),
// and from the host itself on its loopback. The tiny guest answers each connection on port 80
// with a line naming itself (kv.echo).
const LAB = `
name: pf
defaults: { memory: 128M, shutdown_timeout: 3s }
images: { tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet } }
networks:
  lan: { cidr: 10.87.0.0/24 }
vms:
  web:
    image: tiny
    cmdline: kv.name=web kv.ip=10.87.0.10/24 kv.echo=80
    nics: [{ network: lan, ip: 10.87.0.10 }]
    ports: ["8080:80", "127.0.0.1:2222:80/tcp"]
`

const OTHER = `
name: pf-other
defaults: { memory: 128M }
images: { tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz } }
networks:
  lan: { cidr: 10.88.0.0/24 }
vms:
  web:
    image: tiny
    nics: [{ network: lan, ip: 10.88.0.10 }]
    ports: ["8081:80"]
`

describe('ports: host ports forwarded to a guest', () => {
  let host: TestHost
  let client: string
  let file: string
  const log = () => readFileSync(`${host.stateDir}/pf/vm-web/serial.log`, 'utf8')
  /** One line from a TCP connection, made in a namespace (empty when refused or silent). */
  const fetch = (netns: string, address: string) =>
    spawnSync('ip', ['netns', 'exec', netns, 'socat', '-T', '3', '-', `TCP:${address},connect-timeout=3`], {
      encoding: 'utf8',
      input: '',
      timeout: 10_000,
    }).stdout.trim()
  /** The guest's answer through a forward: its listener takes one connection at a time, so tries again. */
  const answer = (netns: string, address: string) =>
    waitFor(`an answer on ${address}`, () => fetch(netns, address) || null, 30_000)
  const pid = () => readFileSync(`${host.stateDir}/pf/vm-web/qemu.pid`, 'utf8').trim()

  before(async () => {
    host = new TestHost()
    // Another machine: a namespace of its own behind a veth, which reaches the host at 10.97.0.2.
    client = `kvmctl-t-cl-${randomBytes(3).toString('hex')}`
    execFileSync('ip', ['netns', 'add', client])
    host.ip('link', 'add', 'vin', 'type', 'veth', 'peer', 'name', 'vout', 'netns', client)
    host.ip('addr', 'add', '10.97.0.2/24', 'dev', 'vin')
    host.ip('link', 'set', 'vin', 'up')
    execFileSync('ip', ['-n', client, 'addr', 'add', '10.97.0.1/24', 'dev', 'vout'])
    execFileSync('ip', ['-n', client, 'link', 'set', 'vout', 'up'])
    file = host.topology('pf.yaml', LAB)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    await waitFor('the guest to be ready', () => guestLine(log(), 'ready'), 90_000)
  })
  after(() => {
    execFileSync('ip', ['netns', 'del', client])
    host.cleanup()
  })

  it('reaches the guest from another machine and from the host loopback, and status lists the forwards', async () => {
    assert.equal(await answer(client, '10.97.0.2:8080'), 'KVMCTL-GUEST echo name=web')
    assert.equal(await answer(host.netns, '127.0.0.1:2222'), 'KVMCTL-GUEST echo name=web')
    // A loopback forward is the host's only: the other machine cannot use it.
    assert.equal(fetch(client, '10.97.0.2:2222'), '')
    assert.doesNotMatch(host.nft('list', 'chain', 'inet', 'kvmctl_pf', 'prerouting'), /dport 2222/)
    const status = await host.kvmctl(['status', '-f', file, '--json'])
    assert.deepEqual(JSON.parse(status.stdout).ports, [
      { vm: 'web', host: '*:8080/tcp', guest: '10.87.0.10:80', present: true },
      { vm: 'web', host: '127.0.0.1:2222/tcp', guest: '10.87.0.10:80', present: true },
    ])
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /No changes/)
  })

  it('changes a forward in place, without restarting the VM', async () => {
    const before = pid()
    editFile(file, '"8080:80"', '"8090:80"')
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /~ update in-place vm\/web/)
    assert.match(plan.stdout, /8080->10\.87\.0\.10:80\/tcp/)
    assert.match(plan.stdout, /8090->10\.87\.0\.10:80\/tcp/)
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    assert.equal(pid(), before)
    assert.equal(await answer(client, '10.97.0.2:8090'), 'KVMCTL-GUEST echo name=web')
    assert.equal(fetch(client, '10.97.0.2:8080'), '')
    assert.doesNotMatch(host.nft('list', 'table', 'inet', 'kvmctl_pf'), /dport 8080 /)
  })

  it('refuses a host port a program listens on, or another lab forwards, in the plan', async () => {
    const listener = spawn('ip', ['netns', 'exec', host.netns, 'socat', 'TCP-LISTEN:9090,reuseaddr', '-'], {
      stdio: 'ignore',
    })
    try {
      // Port 9090 is 2382 in /proc/net/tcp's hex, state 0A is LISTEN.
      const listening = () =>
        execFileSync('ip', ['netns', 'exec', host.netns, 'cat', '/proc/net/tcp'], { encoding: 'utf8' })
      await waitFor('the listener', () => / [0-9A-F]{8}:2382 \S+ 0A /.test(listening()) || null, 10_000)
      editFile(file, '"8090:80"', '"9090:80"')
      const plan = await host.kvmctl(['plan', '-f', file])
      assert.equal(plan.code, 1)
      assert.match(plan.stderr, /vm\/web: host port 9090\/tcp is in use by a program on this host/)
    } finally {
      listener.kill('SIGKILL')
    }
    editFile(file, '"9090:80"', '"8081:80"')
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const other = host.topology('other.yaml', OTHER)
    const plan = await host.kvmctl(['plan', '-f', other])
    assert.equal(plan.code, 1)
    assert.match(plan.stderr, /vm\/web: host port 8081\/tcp is already forwarded by lab "pf"/)
  })

  it('destroy takes the forwards with the lab', async () => {
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.doesNotMatch(host.nft('list', 'tables'), /kvmctl_pf/)
    assert.equal(fetch(client, '10.97.0.2:8081'), '')
  })
})
