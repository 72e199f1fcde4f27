import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { TestHost, waitFor } from '../helpers/host.js'

// DNS for the lab's guests: a NAT network's dnsmasq answers the lab's names and forwards the
// rest to the host's resolver; a network without NAT answers the lab's names alone. The "host's
// resolver" is a dnsmasq in the test's namespace that knows example.test, named by the
// namespace's own resolv.conf (ip netns exec puts /etc/netns/NS/resolv.conf in its place).
const LAB = `
name: dns
defaults: { memory: 128M, shutdown_timeout: 2s }
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
networks:
  out: { cidr: 10.81.0.0/24, dhcp: true, nat: true }
  inside: { cidr: 10.82.0.0/24, dhcp: true }
vms:
  a:
    image: tiny
    cmdline: kv.name=a kv.ip=10.81.0.10/24 kv.dnsserver=10.81.0.1 kv.dns=example.test,b,b.dns.internal
    nics: [{ network: out, ip: 10.81.0.10 }]
  b:
    image: tiny
    cmdline: kv.name=b kv.ip=10.81.0.11/24
    nics: [{ network: out, ip: 10.81.0.11 }]
  c:
    image: tiny
    cmdline: kv.name=c kv.ip=10.82.0.10/24 kv.dnsserver=10.82.0.1 kv.dns=example.test,d kv.tries=3
    nics: [{ network: inside, ip: 10.82.0.10 }]
  d:
    image: tiny
    cmdline: kv.name=d kv.ip=10.82.0.11/24
    nics: [{ network: inside, ip: 10.82.0.11 }]
`

describe('DNS on lab networks', () => {
  let host: TestHost
  let etc: string
  before(() => {
    host = new TestHost()
    etc = `/etc/netns/${host.netns}`
    mkdirSync(etc, { recursive: true })
    writeFileSync(`${etc}/resolv.conf`, 'nameserver 127.0.0.2\n')
    const resolver = spawn(
      'ip',
      [
        'netns',
        'exec',
        host.netns,
        'dnsmasq',
        '--keep-in-foreground',
        '--listen-address=127.0.0.2',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        '--address=/example.test/192.0.2.7',
        `--pid-file=${host.dir}/resolver.pid`,
      ],
      { stdio: 'ignore' },
    )
    resolver.unref()
  })
  after(() => {
    host.cleanup()
    rmSync(etc, { recursive: true, force: true })
  })

  const answers = (vm: string) =>
    Object.fromEntries(
      [
        ...readFileSync(`${host.stateDir}/dns/vm-${vm}/serial.log`, 'utf8').matchAll(
          /KVMCTL-GUEST dns name=(\S+) addr=(\S+)/g,
        ),
      ].map((m) => [m[1], m[2]]),
    )

  it('forwards outside names on a NAT network, answers VM names everywhere, and says which resolver in the plan', async () => {
    const file = host.topology('dns.yaml', LAB)
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(
      plan.stdout,
      /network\/out: DNS answers the lab's names \(VM, VM\.dns\.internal\) and forwards other names to 127\.0\.0\.2 \(from \/etc\/resolv\.conf\)/,
    )
    assert.match(plan.stdout, /dns +lab names, forwards the rest/)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    await waitFor('a to look up its names', () => Object.keys(answers('a')).length === 3, 90_000)
    assert.deepEqual(answers('a'), {
      'example.test': '192.0.2.7',
      b: '10.81.0.11',
      'b.dns.internal': '10.81.0.11',
    })
    await waitFor('c to look up its names', () => Object.keys(answers('c')).length === 2, 90_000)
    assert.deepEqual(answers('c'), { 'example.test': 'none', d: '10.82.0.11' })
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })
})
