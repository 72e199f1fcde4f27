import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { BIN } from '../helpers/cli.js'
import { TestHost, waitFor } from '../helpers/host.js'

// Two labs of one state directory, as a CI machine has them: one with a ttl whose topology file
// is gone (a cancelled job), one fresh. ls sees both from the state directory alone; gc
// --expired destroys the first, by its record and its ownership markers, and keeps the second.
const lab = (name: string, ttl: string, octet: number) => `
name: ${name}
${ttl}
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
networks:
  lan: { cidr: 10.${octet}.0.0/24 }
vms:
  g:
    image: tiny
    cmdline: kv.name=${name} kv.ip=10.${octet}.0.10/24
    nics: [{ network: lan, ip: 10.${octet}.0.10 }]
    ready: { serial: "KVMCTL-GUEST ready", timeout: 120s }
`

describe('expiring labs: ttl, ls, gc', () => {
  let host: TestHost
  let old: string
  let fresh: string
  before(() => {
    host = new TestHost()
    old = host.topology('old.yaml', lab('old', 'ttl: 1s', 83))
    fresh = host.topology('fresh.yaml', lab('fresh', '', 84))
  })
  after(() => host.cleanup())

  it('apply records the expiry: from the file (ttl) or from --ttl', async () => {
    const first = await host.kvmctl(['apply', '-f', old, '--auto-approve', '--wait'])
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /Lab "old" expires at \S+: `kvmctl gc --expired` destroys it after\./)
    const second = await host.kvmctl(['apply', '-f', fresh, '--auto-approve', '--wait', '--ttl', '1h'])
    assert.equal(second.code, 0, second.stderr)
    const bad = await host.kvmctl(['apply', '-f', fresh, '--auto-approve', '--ttl', 'soon'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /--ttl "soon" is not a duration/)
  })

  it('ls lists both from the state directory, the first expired, its file gone', async () => {
    rmSync(old)
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const ls = await host.kvmctl(['ls', '--json'])
    assert.equal(ls.code, 0, ls.stderr)
    const labs = JSON.parse(ls.stdout) as {
      lab: string
      vms: number
      running: number
      expired: boolean
      file: string
    }[]
    assert.deepEqual(
      labs.map((l) => [l.lab, l.vms, l.running, l.expired, l.file]),
      [
        ['fresh', 1, 1, false, fresh],
        ['old', 1, 1, true, old],
      ],
    )
    const text = await host.kvmctl(['ls'])
    assert.match(text.stdout, /^LAB +VMS +AGE +EXPIRES +TOPOLOGY\n/)
    assert.match(text.stdout, /\nold +1\/1 running +\d+s +expired /)
  })

  it('gc --expired destroys the expired lab without its file, and keeps the fresh one', async () => {
    const none = await host.kvmctl(['gc'])
    assert.equal(none.code, 1)
    assert.match(none.stderr, /use --expired, --older-than DURATION, or both/)
    const dry = await host.kvmctl(['gc', '--expired', '--dry-run'])
    assert.match(dry.stdout, /Would destroy: old \(dry run; nothing was changed\)\./)
    assert.ok(host.link('old', 'network/lan'), 'a dry run changes nothing')
    const gc = await host.kvmctl(['gc', '--expired', '--auto-approve'])
    assert.equal(gc.code, 0, gc.stderr)
    assert.equal(host.link('old', 'network/lan'), undefined)
    assert.equal(host.link('old', 'tap/g.0'), undefined)
    assert.equal(existsSync(`${host.stateDir}/old`), false)
    assert.ok(host.link('fresh', 'network/lan'), 'the fresh lab stays')
    const ls = JSON.parse((await host.kvmctl(['ls', '--json'])).stdout) as { lab: string; running: number }[]
    assert.deepEqual(
      ls.map((l) => [l.lab, l.running]),
      [['fresh', 1]],
    )
    const older = await host.kvmctl(['gc', '--older-than', '1h', '--auto-approve'])
    assert.match(older.stdout, /No lab to collect\./)
  })

  it('logs prints the console log, follows it with -F, and the QEMU log with --qemu', async () => {
    const logs = await host.kvmctl(['logs', 'g', '-f', fresh])
    assert.equal(logs.code, 0, logs.stderr)
    assert.match(logs.stdout, /KVMCTL-GUEST ready name=fresh/)
    assert.equal((await host.kvmctl(['logs', 'g', '-f', fresh, '--qemu'])).code, 0)
    const dhcp = await host.kvmctl(['logs', 'g', '-f', fresh, '--dhcp'])
    assert.equal(dhcp.code, 1)
    assert.match(dhcp.stderr, /vm\/g is on no DHCP network/)
    // Follow: what the guest prints after the start arrives in the followed output.
    const follow = spawn(
      'ip',
      ['netns', 'exec', host.netns, BIN, 'logs', 'g', '-F', '-f', fresh, '--state-dir', host.stateDir],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    let followed = ''
    follow.stdout.on('data', (d) => (followed += d))
    try {
      await host.kvmctl(['console', 'g', '-f', fresh, '--timeout', '1'], {
        input: 'echo FOLLOWED-$((6*7))\n',
      })
      await waitFor('the echo in the followed log', () => followed.includes('FOLLOWED-42'), 10_000)
    } finally {
      follow.kill()
    }
  })

  it('destroy leaves nothing', async () => {
    assert.equal((await host.kvmctl(['destroy', '-f', fresh, '--auto-approve'])).code, 0)
    assert.deepEqual(host.pids(), [])
  })
})
