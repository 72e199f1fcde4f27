import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { DEBIAN_GUEST, DEBIAN_IMAGE, TestHost } from '../helpers/host.js'

const GUEST = DEBIAN_GUEST

const vm = (ip: string, ip6: string) => `
    image: debian12
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: ${ip}, ip6: ${ip6} }]
    cloud_init: {}
    ready: { ssh: true, timeout: 600s }`

const DUAL = `
name: v6
${DEBIAN_IMAGE}
networks:
  lan: { cidr: 10.77.0.0/24, cidr6: fd00:77::/64, dhcp: true }
vms:
  a:${vm('10.77.0.10', 'fd00:77::10')}
  b:${vm('10.77.0.11', 'fd00:77::11')}
`

describe('IPv6: a cidr6 network gives its guests their reserved addresses through DHCPv6', () => {
  let host: TestHost
  let file: string
  before(() => {
    assert.ok(existsSync(`${GUEST}/rootfs.qcow2`), 'run test/fixtures/build-debian-guest.sh first')
    host = new TestHost()
    file = host.topology('v6.yaml', DUAL)
  })
  after(() => host.cleanup())

  const out = (name: string, command: string) => host.sshOk(file, name, command)

  it('reserved v6 addresses by DHCPv6, a ping over v6, the bridge at prefix::1, no drift', async () => {
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /cidr6 +fd00:77::\/64/)
    assert.match(plan.stdout, /=10\.77\.0\.10,\[fd00:77::10\],a\b/, 'a DHCPv6 reservation next to the v4 one')
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const bridge = host.link('v6', 'network/lan')!.ifname
    assert.match(host.ip('-6', 'addr', 'show', 'dev', bridge), /inet6 fd00:77::1\/64 scope global/)
    // DHCPv6 hands out the reservation as a /128; the route to the /64 comes from the RA.
    await waitForAddress(() => out('a', 'ip -6 -o addr show dev eth0 scope global'), 'fd00:77::10')
    await waitForAddress(() => out('b', 'ip -6 -o addr show dev eth0 scope global'), 'fd00:77::11')
    assert.match(await out('a', 'ping -6 -c 2 -W 5 fd00:77::11'), /2 received/)
    assert.match(await out('b', 'ping -6 -c 2 -W 5 fd00:77::1'), /2 received/, 'the host, on the bridge')
    const status = JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout)
    assert.deepEqual(
      status.vms.map((v: { ips: string[] }) => v.ips),
      [
        ['10.77.0.10', 'fd00:77::10'],
        ['10.77.0.11', 'fd00:77::11'],
      ],
    )
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0, 'no drift')
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })
})

/** A DHCPv6 address comes a little after the guest is up: wait for it, up to 60 s. */
async function waitForAddress(read: () => Promise<string>, address: string): Promise<void> {
  const deadline = Date.now() + 60_000
  let seen = ''
  while (Date.now() < deadline) {
    seen = await read()
    if (seen.includes(`inet6 ${address}/`)) return
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
  assert.fail(`no ${address} on the guest's eth0; it has: ${seen}`)
}

const tiny = (lab: string, n: number) => `
name: ${lab}
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
networks:
  lan: { cidr: 10.${n}.0.0/24, cidr6: fd00:${n}::/64 }
vms:
  g:
    image: tiny
    cmdline: kv.name=${lab} kv.ip=10.${n}.0.10/24 kv.ip6=fd00:${n}::10/64 kv.gw6=fd00:${n}::1 kv.ping6=fd00:${n}::1
    nics: [{ network: lan, ip: 10.${n}.0.10, ip6: fd00:${n}::10 }]
    ready: { serial: "KVMCTL-GUEST ping6 peer=fd00:${n}::1 ok", timeout: 120s }
`

describe('IPv6 isolation: the lab table is inet, and drops v6 between labs as it does v4', () => {
  let host: TestHost
  before(() => {
    host = new TestHost()
  })
  after(() => host.cleanup())

  it("a v6 ping from one lab to another is dropped by the labs' tables, and passes without them", async () => {
    const one = host.topology('one.yaml', tiny('v6one', 78))
    const two = host.topology('two.yaml', tiny('v6two', 79))
    for (const file of [one, two]) {
      const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
      assert.equal(apply.code, 0, apply.stderr)
    }
    // The host forwards v6 (as NAT66 would have it): only the labs' tables keep them apart.
    host.sysctl('net.ipv6.conf.all.forwarding', '1')
    const ping = async () => {
      const result = await host.kvmctl(['console', 'g', '-f', one, '--timeout', '4'], {
        input: 'echo R=$(ping6 -c 1 -W 2 fd00:79::10 >/dev/null && echo ok || echo no)\n',
      })
      return /R=(ok|no)/.exec(result.stdout)?.[1]
    }
    assert.equal(await ping(), 'no', 'dropped')
    assert.match(host.nft('list', 'table', 'inet', 'kvmctl_v6one'), /iifname "\S+" drop comment/)
    host.nft('delete', 'table', 'inet', 'kvmctl_v6one')
    host.nft('delete', 'table', 'inet', 'kvmctl_v6two')
    assert.equal(await ping(), 'ok', 'without the tables the host routes it: the drop was theirs')
    const plan = await host.kvmctl(['plan', '-f', one, '--detailed-exitcode'])
    assert.equal(plan.code, 2)
    assert.match(plan.stdout, /isolated +false → true/)
    for (const file of [one, two])
      assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    assert.equal(await ping(), 'no', 'repaired')
    for (const file of [one, two])
      assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.equal(host.nft('list', 'tables').trim(), '')
  })
})
