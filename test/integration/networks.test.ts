import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { editFile, guestLine, TestHost, waitFor } from '../helpers/host.js'

const IMAGE =
  'images: { tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet } }'
const OUTSIDE = '10.99.0.1'

const NETS = `
name: nets
defaults: { memory: 128M, shutdown_timeout: 3s }
${IMAGE}
networks:
  lan: { cidr: 10.60.0.0/24, dhcp: true, nat: true }
  iso: { cidr: 10.61.0.0/24 }
vms:
  reserved:
    image: tiny
    cmdline: kv.name=reserved kv.dhcp=1 kv.sink=5000 kv.fetch=${OUTSIDE}:7000 kv.ping=10.62.0.10 kv.tries=5
    nics: [{ network: lan, ip: 10.60.0.10 }]
  dynamic:
    image: tiny
    cmdline: kv.name=dynamic kv.dhcp=1
    nics: [{ network: lan }]
  isolated:
    image: tiny
    cmdline: kv.name=isolated kv.ip=10.61.0.10/24 kv.gw=10.61.0.1 kv.fetch=${OUTSIDE}:7000 kv.tries=3
    nics: [{ network: iso, ip: 10.61.0.10 }]
`

const OTHER = `
name: other
defaults: { memory: 128M, shutdown_timeout: 3s }
${IMAGE}
networks:
  lan: { cidr: 10.62.0.0/24 }
vms:
  peer:
    image: tiny
    cmdline: kv.name=peer kv.ip=10.62.0.10/24 kv.gw=10.62.0.1 kv.ping=10.60.0.10 kv.tries=5
    nics: [{ network: lan, ip: 10.62.0.10 }]
`

describe('networks: DHCP, NAT, isolation, shaping, external bridges', () => {
  let host: TestHost
  let outside: string
  let nets: string
  let other: string
  const log = (lab: string, vm: string) => readFileSync(`${host.stateDir}/${lab}/vm-${vm}/serial.log`, 'utf8')
  const line = (lab: string, vm: string, kind: 'ready' | 'ping' | 'fetch') =>
    waitFor(`${lab}/${vm} to print ${kind}`, () => guestLine(log(lab, vm), kind as 'ready'), 90_000)

  before(() => {
    host = new TestHost()
    // The "outside": a namespace of its own behind a veth, the lab namespace's default route.
    outside = `kvmctl-t-out-${randomBytes(3).toString('hex')}`
    execFileSync('ip', ['netns', 'add', outside])
    host.ip('link', 'add', 'vin', 'type', 'veth', 'peer', 'name', 'vout', 'netns', outside)
    host.ip('addr', 'add', '10.98.0.2/24', 'dev', 'vin')
    host.ip('link', 'set', 'vin', 'up')
    host.ip('route', 'add', 'default', 'via', '10.98.0.1')
    const out = (...args: string[]) => execFileSync('ip', ['-n', outside, ...args])
    out('addr', 'add', '10.98.0.1/24', 'dev', 'vout')
    out('link', 'set', 'vout', 'up')
    out('link', 'set', 'lo', 'up')
    out('addr', 'add', `${OUTSIDE}/32`, 'dev', 'lo')
    // Answers every connection with the source address it sees.
    spawn(
      'ip',
      [
        'netns',
        'exec',
        outside,
        'socat',
        'TCP-LISTEN:7000,fork,reuseaddr',
        'SYSTEM:echo from-$SOCAT_PEERADDR',
      ],
      {
        stdio: 'ignore',
        detached: true,
      },
    ).unref()
    nets = host.topology('nets.yaml', NETS)
    other = host.topology('other.yaml', OTHER)
  })
  after(() => {
    for (const pid of execFileSync('ip', ['netns', 'pids', outside], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {}
    }
    execFileSync('ip', ['netns', 'del', outside])
    host.cleanup()
  })

  it('applies two labs; the plan notes that NAT turns on forwarding', async () => {
    const plan = await host.kvmctl(['plan', '-f', nets])
    assert.match(plan.stdout, /Note: NAT turns on IPv4 forwarding/)
    for (const file of [nets, other]) {
      const result = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
      assert.equal(result.code, 0, result.stderr)
    }
  })

  it('DHCP gives a reserved address, and one from the range otherwise; status reports both', async () => {
    const reserved = await line('nets', 'reserved', 'ready')
    assert.match(reserved.nics!, /^eth0:10\.60\.0\.10:/)
    const dynamic = await line('nets', 'dynamic', 'ready')
    const ip = /^eth0:(10\.60\.0\.\d+):/.exec(dynamic.nics!)?.[1]
    assert.ok(ip, dynamic.nics)
    assert.ok(Number(ip.split('.')[3]) >= 128, `${ip} is in the dynamic range .128-.254`)
    const status = JSON.parse((await host.kvmctl(['status', '-f', nets, '--json'])).stdout)
    const ips = (vm: string) => status.vms.find((v: { name: string }) => v.name === vm).ips
    assert.deepEqual(ips('reserved'), ['10.60.0.10'])
    assert.deepEqual(ips('dynamic'), [ip])
    assert.equal(status.networks.find((n: { name: string }) => n.name === 'lan').dhcp, true)
  })

  it('NAT: a guest reaches the outside, which sees the host as the source; without NAT it cannot', async () => {
    assert.equal(
      (await line('nets', 'reserved', 'fetch')).reply,
      'from-10.98.0.2',
      'masqueraded behind the host',
    )
    assert.equal((await line('nets', 'isolated', 'fetch')).reply, 'none')
  })

  it('labs side by side cannot reach each other', async () => {
    assert.equal((await line('nets', 'reserved', 'ping')).fail, 'true', 'nets → other')
    assert.equal((await line('other', 'peer', 'ping')).fail, 'true', 'other → nets')
  })

  /** The rate the link to the guest delivers: bytes into its tap during 3 s of pushing data at it. */
  const measureMbit = async () => {
    const tap = host.link('nets', 'tap/reserved.0')!.ifname
    await new Promise((resolve) => setTimeout(resolve, 1500)) // the guest's sink takes the next connection
    const before = txBytes(tap)
    spawnSync('ip', [
      'netns',
      'exec',
      host.netns,
      'timeout',
      '3',
      'socat',
      '-u',
      'OPEN:/dev/zero',
      'TCP:10.60.0.10:5000',
    ])
    return ((txBytes(tap) - before) * 8) / 3 / 1e6
  }
  const txBytes = (tap: string) =>
    Number(
      execFileSync('ip', ['netns', 'exec', host.netns, 'cat', `/sys/class/net/${tap}/statistics/tx_bytes`], {
        encoding: 'utf8',
      }),
    )

  it('a NIC with rate: 1mbit slows a transfer to about that rate; removing it restores speed in place', async (t) => {
    const fast = await measureMbit()
    editFile(
      nets,
      'nics: [{ network: lan, ip: 10.60.0.10 }]',
      'nics: [{ network: lan, ip: 10.60.0.10, rate: 1mbit }]',
    )
    const plan = await host.kvmctl(['plan', '-f', nets])
    assert.match(
      plan.stdout,
      /~ update in-place tap\/reserved\.0\n\s+rate {2}\(none\) → 1mbit {2}\(in-place\)/,
    )
    assert.match(plan.stdout, /Plan: 0 to create, 1 to update, 0 to restart/)
    const pid = readFileSync(`${host.stateDir}/nets/vm-reserved/qemu.pid`, 'utf8')
    assert.equal((await host.kvmctl(['apply', '-f', nets, '--auto-approve'])).code, 0)
    const slow = await measureMbit()
    assert.ok(
      slow > 0.6 && slow < 1.4,
      `shaped to about 1 mbit/s: ${slow.toFixed(2)} (unshaped ${fast.toFixed(1)})`,
    )
    assert.ok(fast > 10 * slow, `unshaped is much faster: ${fast.toFixed(1)} mbit/s`)
    editFile(nets, ', rate: 1mbit }', ' }')
    assert.equal((await host.kvmctl(['apply', '-f', nets, '--auto-approve'])).code, 0)
    const again = await measureMbit()
    assert.ok(again > 10 * slow, `full speed again: ${again.toFixed(1)} mbit/s`)
    assert.equal(readFileSync(`${host.stateDir}/nets/vm-reserved/qemu.pid`, 'utf8'), pid, 'no restart')
    t.diagnostic(
      `mbit/s to the guest: unshaped ${fast.toFixed(1)}, rate: 1mbit ${slow.toFixed(2)}, unshaped again ${again.toFixed(1)}`,
    )
  })

  it('netem fields on a kernel without netem: the plan fails naming the module, host unchanged', async (t) => {
    const withDelay = readFileSync(nets, 'utf8').replace(
      'nics: [{ network: lan }]',
      'nics: [{ network: lan, delay: 50ms, loss: 1% }]',
    )
    const file = host.topology('nets-netem.yaml', withDelay)
    const qdiscs = () =>
      execFileSync('ip', ['netns', 'exec', host.netns, 'tc', 'qdisc', 'show'], { encoding: 'utf8' })
    const before = qdiscs()
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    if (result.code === 0)
      return t.skip('this kernel has netem: the missing-module error cannot be shown here')
    assert.equal(result.code, 1)
    assert.match(
      result.stderr,
      /tap\/dynamic\.0: delay, jitter and loss need the qdisc netem \(kernel module sch_netem\)/,
    )
    assert.equal(qdiscs(), before)
  })

  it('an external bridge is used as it is, and a missing one is a plan error', async () => {
    const ext = host.topology(
      'ext.yaml',
      `name: ext\ndefaults: { memory: 128M, shutdown_timeout: 2s }\n${IMAGE}\nnetworks: { up: { external: br-ext } }\nvms:\n  solo: { image: tiny, cmdline: kv.name=solo, nics: [{ network: up }] }\n`,
    )
    const missing = await host.kvmctl(['plan', '-f', ext])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /network\/up: external bridge "br-ext" does not exist on this host/)
    host.ip('link', 'add', 'br-ext', 'type', 'bridge')
    host.ip('link', 'set', 'br-ext', 'mtu', '1450', 'up')
    assert.equal((await host.kvmctl(['apply', '-f', ext, '--auto-approve'])).code, 0)
    const tap = host.link('ext', 'tap/solo.0')!
    assert.equal(tap.master, 'br-ext')
    assert.equal((await host.kvmctl(['destroy', '-f', ext, '--auto-approve'])).code, 0)
    const bridge = host.links().find((l) => l.ifname === 'br-ext')
    assert.ok(bridge, 'the external bridge is still there')
    assert.equal(bridge.mtu, 1450)
    assert.equal(bridge.ifalias, undefined)
  })

  it('a dead dnsmasq is drift that apply repairs; a reservation change re-configures it in place', async () => {
    const pidFile = `${host.stateDir}/nets/net-lan/dnsmasq.pid`
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL')
    const drift = await host.kvmctl(['plan', '-f', nets])
    assert.match(drift.stdout, /~ update in-place network\/lan\n\s+dhcp\s+false → true/)
    assert.equal((await host.kvmctl(['apply', '-f', nets, '--auto-approve'])).code, 0)
    assert.equal((await host.kvmctl(['plan', '-f', nets, '--detailed-exitcode'])).code, 0)

    editFile(nets, 'nics: [{ network: lan }]', 'nics: [{ network: lan, ip: 10.60.0.20 }]')
    const plan = await host.kvmctl(['plan', '-f', nets])
    assert.match(plan.stdout, /~ update in-place network\/lan\n\s+dhcp_hosts/)
    assert.match(plan.stdout, /Plan: 0 to create, 1 to update, 0 to restart/)
    assert.equal((await host.kvmctl(['apply', '-f', nets, '--auto-approve'])).code, 0)
    const conf = readFileSync(`${host.stateDir}/nets/net-lan/dnsmasq.conf`, 'utf8')
    assert.match(conf, /^dhcp-host=[0-9a-f:]+,10\.60\.0\.20,dynamic$/m)
    assert.match(conf, /^host-record=dynamic,dynamic\.nets\.internal,10\.60\.0\.20$/m)
    assert.equal((await host.kvmctl(['plan', '-f', nets, '--detailed-exitcode'])).code, 0)
  })

  it('destroy leaves no dnsmasq, no nft table and no link of the labs', async () => {
    for (const file of [nets, other])
      assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.deepEqual(host.pids(), [])
    assert.equal(
      execFileSync('ip', ['netns', 'exec', host.netns, 'nft', 'list', 'tables'], { encoding: 'utf8' }).trim(),
      '',
    )
    assert.deepEqual(
      host.links().filter((l) => l.ifalias?.startsWith('kvmctl:')),
      [],
    )
  })
})
