import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { learnControlPath, sshArgv } from '../../src/cluster/ssh.js'
import { topologyFromText } from '../../src/config/index.js'
import { PieceReader } from '../../src/host/image-cache.js'
import type { PlanError } from '../../src/lib/errors.js'
import { derivedVni } from '../../src/model/names.js'
import { bootFiles, type HostFacts, partOn, placeFiles } from '../../src/model/placement.js'
import { emptySnapshot } from '../../src/model/snapshot.js'
import type { Topology } from '../../src/model/types.js'
import { vxlanFdb } from '../../src/model/vxlan.js'
import { executionPlan, type HostPart, planAcross } from '../../src/plan/across-hosts.js'
import { diff } from '../../src/plan/diff.js'
import { desiredFields } from '../../src/plan/fields.js'
import { MemoryHost } from '../helpers/memory-host.js'

const LAB = `
name: span
hosts:
  a: { ssh: local, underlay: 10.0.0.1 }
  b: { ssh: root@10.0.0.2, underlay: 10.0.0.2 }
  c: { ssh: c, underlay: 10.0.0.3 }
images:
  tiny: { kernel: ./k }
networks:
  lan: { cidr: 10.10.0.0/24, dhcp: true, nat: true }
  local: { cidr: 10.20.0.0/24 }
disks:
  data: { size: 1G }
vms:
  web: { image: tiny, nics: [{ network: lan, ip: 10.10.0.10 }, { network: local }], disks: [data] }
  db: { host: b, image: tiny, nics: [{ network: lan, ip: 10.10.0.20 }] }
  far: { host: c, image: tiny, nics: [{ network: lan }] }
`

const topo = (text = LAB) => topologyFromText('/lab/kvmctl.yaml', text, '/var/lib/kvmctl')
const facts = new Map<string, HostFacts>([
  ['a', { underlayDev: 'eth0' }],
  ['b', { underlayDev: 'eth1' }],
  ['c', { underlayDev: 'ens3' }],
])
const parts = (t: Topology, snapshots: Record<string, ReturnType<MemoryHost['snapshot']>> = {}): HostPart[] =>
  t.hosts.map((host) => ({
    host,
    topology: partOn(t, host.name, facts),
    snapshot: snapshots[host.name] ?? emptySnapshot(t.lab),
    version: '1.0.0',
    underlayMtu: 1500,
    unreachable: null,
    leaving: false,
  }))

describe('labs across hosts: placement', () => {
  it("places the boot files of another host's part in its image cache, by content, and lists what to copy", () => {
    const t = topo(
      LAB.replace(
        'tiny: { kernel: ./k }',
        'tiny: { kernel: ./k }\n  disk: { path: ./base.qcow2, kernel: ./k, initrd: ./i }',
      ).replace('db: { host: b, image: tiny,', 'db: { host: b, image: disk,'),
    )
    const b = partOn(t, 'b', facts)
    assert.deepEqual(
      bootFiles(b).map((f) => `${f.what} ${f.source}`),
      ['image/disk path /lab/base.qcow2', 'image/disk kernel /lab/k', 'image/disk initrd /lab/i'],
    )
    const sha = (c: string) => c.repeat(64)
    // The initrd was not hashed (this machine could not read it): it stays as named.
    const placed = placeFiles(
      b,
      new Map([
        ['/lab/base.qcow2', { sha256: sha('a'), bytes: 3 }],
        ['/lab/k', { sha256: sha('b'), bytes: 2 }],
      ]),
    )
    const cache = '/var/lib/kvmctl/images'
    const db = placed.vms.find((vm) => vm.name === 'db')!
    assert.equal(db.kernel, `${cache}/${sha('b')}`)
    assert.equal(db.initrd, '/lab/i')
    assert.equal(placed.disks.find((d) => d.vm === 'db')!.backingFile, `${cache}/${sha('a')}`)
    assert.deepEqual(placed.images.disk!.path, `${cache}/${sha('a')}`)
    // The image no VM of b boots from is as it was.
    assert.equal(placed.images.tiny!.kernel, '/lab/k')
    assert.deepEqual(
      placed.puts!.map((p) => [p.what, p.source, p.path, p.bytes]),
      [
        ['image/disk path', '/lab/base.qcow2', `${cache}/${sha('a')}`, 3],
        ['image/disk kernel', '/lab/k', `${cache}/${sha('b')}`, 2],
      ],
    )
    // A changed file is another name there: a new kernel restarts the VM, a new base image
    // replaces the boot disk made on it (as a url image's new digest does).
    const changed = placeFiles(
      b,
      new Map([
        ['/lab/base.qcow2', { sha256: sha('c'), bytes: 3 }],
        ['/lab/k', { sha256: sha('d'), bytes: 2 }],
      ]),
    )
    const plan = diff(changed, MemoryHost.applied(placed).snapshot())
    assert.deepEqual(
      plan.actions.map((a) => [a.address, a.action]),
      [
        ['disk/db.boot', 'replace'],
        ['vm/db', 'restart'],
      ],
    )
  })

  it('places VMs (the local host by default) with their taps and disks, and each network where it has NICs', () => {
    const t = topo()
    assert.deepEqual(
      t.vms.map((vm) => [vm.name, vm.host]),
      [
        ['web', 'a'],
        ['db', 'b'],
        ['far', 'c'],
      ],
    )
    const a = partOn(t, 'a', facts)
    assert.deepEqual(
      a.vms.map((v) => v.name),
      ['web'],
    )
    assert.deepEqual(a.taps.map((x) => x.address).sort(), ['tap/web.0', 'tap/web.1'])
    assert.deepEqual(a.disks.map((d) => d.address).sort(), ['disk/data', 'disk/web.boot'])
    assert.deepEqual(
      a.networks.map((n) => n.address),
      ['network/lan', 'network/local'],
    )
    const b = partOn(t, 'b', facts)
    assert.deepEqual(
      b.networks.map((n) => n.address),
      ['network/lan@b'],
    )
    assert.equal(b.host, 'b')
  })

  it("keeps the gateway, DHCP and NAT on the network's home; the other hosts get a bridge and a VXLAN end", () => {
    const t = topo()
    const home = partOn(t, 'a', facts).networks.find((n) => n.name === 'lan')!
    const part = partOn(t, 'b', facts).networks[0]!
    assert.equal(home.home, 'a')
    assert.equal(home.hostAddress, '10.10.0.1/24')
    assert.ok(home.dhcp && home.nat)
    assert.equal(home.dhcpHosts.length, 3, "a's dnsmasq knows the NICs on every host")
    assert.deepEqual([part.hostAddress, part.dhcp, part.nat, part.cidr], [null, false, false, null])
    assert.equal(part.bridge, home.bridge)
    // One VNI everywhere, MTU 1450 for a 1500 underlay, a flood entry per peer and the MACs elsewhere.
    assert.equal(home.mtu, 1450)
    assert.equal(home.vxlan!.vni, derivedVni('span', 'lan'))
    assert.equal(part.vxlan!.vni, home.vxlan!.vni)
    assert.deepEqual(
      [part.vxlan!.local, part.vxlan!.dev, part.vxlan!.port, part.vxlan!.peers],
      ['10.0.0.2', 'eth1', 4789, ['10.0.0.1', '10.0.0.3']],
    )
    const macOf = (vm: string) => t.taps.find((x) => x.vm === vm && x.network === 'lan')!.mac
    assert.deepEqual(
      vxlanFdb(part.vxlan!),
      [
        '00:00:00:00:00:00 10.0.0.1',
        '00:00:00:00:00:00 10.0.0.3',
        `${macOf('far')} 10.0.0.3`,
        `${macOf('web')} 10.0.0.1`,
      ].sort(),
    )
    // A network on one host spans nothing: no VXLAN, Ethernet's MTU.
    const local = partOn(t, 'a', facts).networks.find((n) => n.name === 'local')!
    assert.deepEqual([local.vxlan, local.mtu], [null, 1500])
    assert.equal(
      desiredFields(part).vxlan,
      `vni ${home.vxlan!.vni} port 4789 local 10.0.0.2 dev eth1, from peers only`,
    )
  })

  it('changes nothing for a lab without hosts', () => {
    const t = topo(LAB.replace(/hosts:\n(\s{2}.*\n){3}/, '').replaceAll(/host: \w+, /g, ''))
    assert.deepEqual(t.hosts, [])
    assert.ok(t.vms.every((vm) => vm.host === null))
    assert.ok(
      t.networks.every((n) => n.vxlan === null && n.vni === null && n.home === null && n.mtu === 1500),
    )
  })
})

describe('labs across hosts: the plan', () => {
  it('plans each host against what it has and groups the actions by host (format_version 2)', () => {
    const t = topo()
    const plan = planAcross(t.lab, 'sha256:t', parts(t), {})
    assert.equal(plan.format_version, 2)
    assert.deepEqual(
      plan.actions.filter((a) => a.type === 'network').map((a) => [a.host, a.address]),
      [
        ['a', 'network/lan'],
        ['a', 'network/local'],
        ['b', 'network/lan@b'],
        ['c', 'network/lan@c'],
      ],
    )
    assert.deepEqual(
      plan.hosts!.map((h) => [h.name, h.version, h.underlay]),
      [
        ['a', '1.0.0', '10.0.0.1'],
        ['b', '1.0.0', '10.0.0.2'],
        ['c', '1.0.0', '10.0.0.3'],
      ],
    )
    assert.equal(plan.summary.create, plan.actions.length)
  })

  it('plans nothing once each host has its part, and only the host that lost something otherwise', () => {
    const t = topo()
    const applied = Object.fromEntries(
      t.hosts.map((h) => [h.name, MemoryHost.applied(partOn(t, h.name, facts)).snapshot()]),
    )
    assert.deepEqual(planAcross(t.lab, 'sha256:t', parts(t, applied), {}).actions, [])
    const c = MemoryHost.applied(partOn(t, 'c', facts))
    c.resources.delete('vm/far')
    const plan = planAcross(t.lab, 'sha256:t', parts(t, { ...applied, c: c.snapshot() }), {})
    assert.deepEqual(
      plan.actions.map((a) => [a.host, a.action, a.address]),
      [['c', 'create', 'vm/far']],
    )
  })

  it('targets a host with @NAME and an address on the host that has it; an unknown one is an error', () => {
    const t = topo()
    const onB = planAcross(t.lab, 'sha256:t', parts(t), { targets: ['@b'] })
    assert.ok(onB.actions.length > 0 && onB.actions.every((a) => a.host === 'b'))
    const far = planAcross(t.lab, 'sha256:t', parts(t), { targets: ['vm/far'] })
    assert.deepEqual(
      far.actions.map((a) => a.address),
      ['network/lan@c', 'disk/far.boot', 'tap/far.0', 'vm/far'],
    )
    assert.throws(
      () => planAcross(t.lab, 'sha256:t', parts(t), { targets: ['@d', 'vm/nope'] }),
      (e: PlanError) => /@d: no such resource or host/.test(e.message) && /vm\/nope/.test(e.message),
    )
  })

  it('fails naming an unreachable host, unless --target leaves it out (then the plan says so)', () => {
    const t = topo()
    const lost = parts(t).map((p) =>
      p.host.name === 'c' ? { ...p, snapshot: null, unreachable: 'ssh exited with 255' } : p,
    )
    assert.throws(
      () => planAcross(t.lab, 'sha256:t', lost, {}),
      /host c: unreachable \(c\): ssh exited with 255/,
    )
    const partial = planAcross(t.lab, 'sha256:t', lost, { targets: ['@a', '@b'] })
    assert.ok(partial.actions.every((a) => a.host !== 'c'))
    assert.match(partial.notes.join('\n'), /host c \(c\) was not observed: ssh exited with 255/)
  })

  it("refuses an MTU the underlay cannot carry, and ports on a host that is not the network's home", () => {
    const t = topo(LAB.replace('nat: true }', 'nat: true, mtu: 1480 }'))
    assert.throws(
      () => planAcross(t.lab, 'sha256:t', parts(t), {}),
      /network\/lan on host a: mtu 1480 does not fit host a's underlay eth0 \(MTU 1500\) less VXLAN's 50 bytes: set mtu: 1450/,
    )
    const jumbo = parts(t).map((p) => ({ ...p, underlayMtu: 9000 }))
    assert.ok(planAcross(t.lab, 'sha256:t', jumbo, {}).actions.length > 0)
    const ported = topo(LAB.replace('db: { host: b,', 'db: { host: b, ports: ["8080:80"],'))
    assert.throws(
      () => planAcross(ported.lab, 'sha256:t', parts(ported), {}),
      /vm\/db on host b: ports forward from the host that has the network's address, its home/,
    )
  })

  it('shows a VM that moves to another host as made anew there, its disks not copied', () => {
    const before = topo()
    const applied = Object.fromEntries(
      before.hosts.map((h) => [h.name, MemoryHost.applied(partOn(before, h.name, facts)).snapshot()]),
    )
    const after = topo(LAB.replace('far: { host: c,', 'far: { host: b,'))
    const plan = planAcross(after.lab, 'sha256:t', parts(after, applied), {})
    assert.deepEqual(
      plan.actions.filter((a) => a.address === 'vm/far').map((a) => [a.host, a.action]),
      [
        ['b', 'create'],
        ['c', 'delete'],
      ],
    )
    assert.match(
      plan.notes.join('\n'),
      /vm\/far moves from host c to host b: it is made anew there with new disks/,
    )
    // The executor sees one key per host's action, also for the same address on two hosts.
    const keys = executionPlan(plan).actions.map((a) => a.address)
    assert.ok(keys.includes('vm/far@b') && keys.includes('vm/far@c'))
    assert.equal(new Set(keys).size, keys.length)
  })
})

describe('labs across hosts: boot files in one stream', () => {
  it('reads pieces of known lengths, across and within chunks', async () => {
    const chunks = ['abc', 'defgh', 'i', '', 'jk'].map((c) => Buffer.from(c))
    const reader = new PieceReader(
      (async function* () {
        yield* chunks
      })(),
    )
    const piece = async (n: number) => {
      let text = ''
      for await (const part of reader.take(n)) text += part.toString()
      return text
    }
    assert.deepEqual(
      [await piece(2), await piece(5), await piece(0), await piece(3), await piece(9)],
      ['ab', 'cdefg', '', 'hij', 'k'],
    )
  })
})

describe('labs across hosts: the ssh command line', () => {
  it('never asks, never trusts an unknown key, keeps alive, multiplexes, and ends its options before the target', () => {
    const dir = mkdtempSync('/tmp/kvmctl-ssh-')
    writeFileSync(`${dir}/config`, 'Host b\n  HostName 10.0.0.2\n')
    const argv = sshArgv('b', ['kvmctl', 'agent'], `${dir}/config`)
    const options = argv.flatMap((word, i) => (argv[i - 1] === '-o' ? [word] : []))
    assert.deepEqual(options.slice(0, 6), [
      'BatchMode=yes',
      'StrictHostKeyChecking=yes',
      'ConnectTimeout=10',
      'ServerAliveInterval=5',
      'ServerAliveCountMax=3',
      'ControlMaster=auto',
    ])
    assert.ok(options.some((o) => /^ControlPath=.+\/kvmctl-ssh(-\d+)?\/%C$/.test(o)))
    assert.deepEqual(argv.slice(0, 2), ['-F', `${dir}/config`])
    assert.deepEqual(argv.slice(-4), ['--', 'b', 'kvmctl', 'agent'])
    // A ControlPath of the user's config is theirs to keep.
    writeFileSync(`${dir}/config`, 'Host *\n  ControlPath ~/.ssh/cm-%C\n')
    assert.ok(!sshArgv('b', ['true'], `${dir}/config`).some((w) => w.startsWith('ControlPath=')))
    rmSync(dir, { recursive: true })
  })

  it('keeps a ControlPath that a file the config includes sets for the host, as ssh -G says', async () => {
    const dir = mkdtempSync('/tmp/kvmctl-ssh-')
    writeFileSync(`${dir}/config`, `Include ${dir}/more.conf\n`)
    writeFileSync(`${dir}/more.conf`, 'Host b\n  ControlPath ~/.ssh/cm-%C\n')
    const controlPath = (target: string) =>
      sshArgv(target, ['true'], `${dir}/config`).find((w) => w.startsWith('ControlPath='))
    await learnControlPath('b', `${dir}/config`)
    await learnControlPath('c', `${dir}/config`)
    assert.equal(controlPath('b'), undefined)
    assert.match(controlPath('c')!, /\/kvmctl-ssh(-\d+)?\/%C$/)
    rmSync(dir, { recursive: true })
  })
})
