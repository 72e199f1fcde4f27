import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { topologyFromText } from '../../src/config/index.js'
import { canonicalJson } from '../../src/lib/canonical-json.js'
import { PlanError } from '../../src/lib/errors.js'
import { emptySnapshot, type Observed } from '../../src/model/snapshot.js'
import type { Tap } from '../../src/model/types.js'
import { diff } from '../../src/plan/diff.js'
import { FIELD_EFFECTS } from '../../src/plan/fields.js'
import type { Plan } from '../../src/plan/types.js'
import { MemoryHost } from '../helpers/memory-host.js'

const BASE = `
name: demo
defaults: { cpus: 1, memory: 256M }
images:
  tiny: { kernel: ./k, initrd: ./i, cmdline: console=ttyS0 }
  other: { kernel: ./k2 }
networks:
  lan: { cidr: 10.10.0.0/24 }
  wire: {}
disks:
  data: { size: 2G }
vms:
  web:
    image: tiny
    nics: [{ network: lan, ip: 10.10.0.10 }, { network: wire }]
    disks: [data]
  db:
    image: tiny
    nics: [{ network: lan }]
`

const topo = (text: string) => topologyFromText('/lab/kvmctl.yaml', text, '/var/lib/kvmctl')
/** The same file with one substitution, asserting that it applied. */
const edit = (from: string, to: string, text = BASE) => {
  assert.ok(text.includes(from), `BASE has ${from}`)
  return text.replace(from, to)
}
const actionsOf = (plan: Plan) => plan.actions.map((a) => `${a.action} ${a.address}`)
/** Plan the edited file against a host where BASE was applied. */
const planEdit = (text: string) => diff(topo(text), MemoryHost.applied(topo(BASE)).snapshot())

describe('canonical JSON (what plans are fingerprinted by)', () => {
  it("sorts every object's keys, keeps array order, and drops undefined members", () => {
    const a = { b: 1, a: { d: [{ z: 1, y: 2 }, 3], c: null, u: undefined } }
    const b = { a: { c: null, d: [{ y: 2, z: 1 }, 3] }, b: 1 }
    assert.equal(canonicalJson(a), '{"a":{"c":null,"d":[{"y":2,"z":1},3]},"b":1}')
    assert.equal(canonicalJson(a), canonicalJson(b))
    assert.notEqual(canonicalJson({ d: [1, 2] }), canonicalJson({ d: [2, 1] }))
  })
})

describe('planner', () => {
  it('creates everything on an empty host, in dependency order', () => {
    const plan = diff(topo(BASE), emptySnapshot('demo'))
    assert.deepEqual(actionsOf(plan), [
      'create network/lan',
      'create network/wire',
      'create disk/data',
      'create disk/db.boot',
      'create disk/web.boot',
      'create tap/db.0',
      'create tap/web.0',
      'create tap/web.1',
      'create vm/db',
      'create vm/web',
    ])
    assert.deepEqual(plan.summary, { create: 10, update: 0, restart: 0, replace: 0, delete: 0 })
    const web = plan.actions.find((a) => a.address === 'vm/web')!
    assert.deepEqual(web.depends_on, ['disk/data', 'disk/web.boot', 'tap/web.0', 'tap/web.1'])
    assert.deepEqual(plan.actions.find((a) => a.address === 'tap/web.1')!.depends_on, ['network/wire'])
    const position = (address: string) => plan.actions.findIndex((a) => a.address === address)
    for (const action of plan.actions) {
      for (const dep of action.depends_on)
        assert.ok(position(dep) < position(action.address), `${dep} before ${action.address}`)
    }
  })

  it('has nothing to do on a host that matches', () => {
    const plan = planEdit(BASE)
    assert.deepEqual(plan.actions, [])
    assert.deepEqual(plan.summary, { create: 0, update: 0, restart: 0, replace: 0, delete: 0 })
  })

  const effects: [string, string, string, string, string][] = [
    // [what, from, to, address, expected action]
    [
      'memory',
      'defaults: { cpus: 1, memory: 256M }',
      'defaults: { cpus: 1, memory: 384M }',
      'vm/web',
      'restart',
    ],
    [
      'cpus',
      'defaults: { cpus: 1, memory: 256M }',
      'defaults: { cpus: 2, memory: 256M }',
      'vm/db',
      'restart',
    ],
    [
      'accel',
      'defaults: { cpus: 1, memory: 256M }',
      'defaults: { cpus: 1, memory: 256M, accel: tcg }',
      'vm/web',
      'restart',
    ],
    ['cmdline', 'cmdline: console=ttyS0 }', 'cmdline: console=ttyS0 quiet }', 'vm/web', 'restart'],
    ['initrd', 'initrd: ./i,', 'initrd: ./i2,', 'vm/db', 'restart'],
    ['kernel', 'tiny: { kernel: ./k,', 'tiny: { kernel: ./k3,', 'vm/web', 'restart'],
    ['nics', '[{ network: lan }]', '[{ network: lan, mac: 52:54:00:00:00:99 }]', 'vm/db', 'restart'],
    [
      'state',
      '    nics: [{ network: lan }]',
      '    nics: [{ network: lan }]\n    state: paused',
      'vm/db',
      'update',
    ],
    [
      'ready',
      '    nics: [{ network: lan }]',
      '    nics: [{ network: lan }]\n    ready: { tcp: 22 }',
      'vm/db',
      'update',
    ],
    ['image', '  db:\n    image: tiny', '  db:\n    image: other', 'vm/db', 'replace'],
    ['boot disk image', '  db:\n    image: tiny', '  db:\n    image: other', 'disk/db.boot', 'replace'],
    ['disk size', 'data: { size: 2G }', 'data: { size: 3G }', 'disk/data', 'update'],
    ['disk format', 'data: { size: 2G }', 'data: { size: 2G, format: raw }', 'disk/data', 'replace'],
    [
      'disk_size',
      '  db:\n    image: tiny',
      '  db:\n    image: tiny\n    disk_size: 2G',
      'disk/db.boot',
      'update',
    ],
    ['network cidr', 'lan: { cidr: 10.10.0.0/24 }', 'lan: { cidr: 10.10.0.0/16 }', 'network/lan', 'update'],
    [
      'network dhcp',
      'lan: { cidr: 10.10.0.0/24 }',
      'lan: { cidr: 10.10.0.0/24, dhcp: true }',
      'network/lan',
      'update',
    ],
    [
      'network nat',
      'lan: { cidr: 10.10.0.0/24 }',
      'lan: { cidr: 10.10.0.0/24, nat: true }',
      'network/lan',
      'update',
    ],
    ['network mtu', 'wire: {}', 'wire: { mtu: 9000 }', 'network/wire', 'update'],
    ['tap mtu', 'wire: {}', 'wire: { mtu: 9000 }', 'tap/web.1', 'update'],
  ]
  for (const [what, from, to, address, expected] of effects) {
    it(`a change of ${what} is ${expected} of ${address}`, () => {
      const plan = planEdit(edit(from, to))
      const action = plan.actions.find((a) => a.address === address)
      assert.ok(action, `${address} in ${actionsOf(plan).join(', ')}`)
      assert.equal(action.action, expected)
      const effect = { update: 'in-place', restart: 'restart', replace: 'replace' }[expected]
      assert.ok(action.changes.some((c) => c.effect === effect))
    })
  }

  it('restarts a VM whose cloud-init changes, and says cloud-init runs again', () => {
    assert.equal(FIELD_EFFECTS.vm.cloud_init, 'restart')
    const withSeed = (hostname: string) =>
      edit(
        '    nics: [{ network: lan }]',
        `    nics: [{ network: lan }]\n    cloud_init: { user_data: { hostname: ${hostname} } }`,
      )
    const plan = diff(topo(withSeed('beta')), MemoryHost.applied(topo(withSeed('alpha'))).snapshot())
    assert.deepEqual(actionsOf(plan), ['restart vm/db'])
    const change = plan.actions[0]!.changes[0]!
    assert.equal(change.field, 'cloud_init')
    assert.match(String(change.before), /hostname: alpha/)
    assert.match(String(change.after), /hostname: beta/)
    assert.notEqual(
      /instance-id: (\S+)/.exec(String(change.before))![1],
      /instance-id: (\S+)/.exec(String(change.after))![1],
      'a new instance-id makes cloud-init run again',
    )
    assert.deepEqual(plan.notes, [
      "vm/db: cloud-init runs again in the guest on this restart (the seed's instance-id follows its content).",
    ])
  })

  it('keeps NVRAM and TPM state across restarts, and marks a restart that drops them as destroying data', () => {
    const db = (extra: string) => edit('  db:\n    image: tiny', `  db:\n    image: tiny\n${extra}`)
    const plain = db('    firmware: uefi\n    tpm: true')
    const applied = MemoryHost.applied(topo(plain)).snapshot()
    const run = '/var/lib/kvmctl/demo/vm-db'

    const bigger = diff(topo(db('    firmware: uefi\n    tpm: true\n    memory: 384M')), applied)
    assert.deepEqual(actionsOf(bigger), ['restart vm/db'])
    assert.equal(bigger.actions[0]!.destroys_data, false, 'a restart keeps the NVRAM and the TPM state')
    assert.deepEqual(bigger.notes, [])

    const secure = diff(topo(db('    secure_boot: true\n    tpm: true')), applied)
    assert.deepEqual(secure.actions[0]!.changes, [
      { field: 'secure_boot', before: false, after: true, effect: 'restart' },
    ])
    assert.equal(secure.actions[0]!.destroys_data, true)
    assert.deepEqual(secure.notes, [
      `vm/db: UEFI (the host's OVMF, Secure Boot with Microsoft's keys enrolled) on machine q35, with an NVRAM of its own (${run}/OVMF_VARS.ms.fd), kept across restarts and removed with the VM.`,
      `vm/db: its NVRAM (${run}/OVMF_VARS.fd) is removed on this restart, and the variables the guest wrote there with it: the new one starts from the template.`,
    ])

    const noTpm = diff(topo(db('    firmware: uefi')), applied)
    assert.equal(noTpm.actions[0]!.destroys_data, true)
    assert.deepEqual(noTpm.notes, [
      `vm/db: its TPM state (${run}/tpm2.state) is removed on this restart, and what the guest kept in it.`,
    ])
  })

  it('makes a p2p network of its two taps alone: the second end waits for the first and wires both', () => {
    const text = edit('  wire: {}', '  wire: { type: p2p, mtu: 9000 }').replace(
      '    nics: [{ network: lan }]\n',
      '    nics: [{ network: lan }, { network: wire }]\n',
    )
    const plan = diff(topo(text), emptySnapshot('demo'))
    assert.equal(
      plan.actions.some((a) => a.address === 'network/wire'),
      false,
      'no host object',
    )
    const tap = (address: string) => plan.actions.find((a) => a.address === address)!
    const peer = (address: string) => tap(address).changes.find((c) => c.field === 'peer')?.after
    assert.equal(peer('tap/db.1'), (tap('tap/web.1').desired as Tap).device)
    assert.equal(peer('tap/web.1'), (tap('tap/db.1').desired as Tap).device)
    assert.deepEqual(tap('tap/db.1').depends_on, [])
    assert.deepEqual(tap('tap/web.1').depends_on, ['tap/db.1'])
    assert.equal(
      tap('tap/web.1').changes.some((c) => c.field === 'bridge'),
      false,
      'on no bridge',
    )
    assert.ok(
      plan.notes.includes(
        "network/wire: a p2p wire between tap/db.1 and tap/web.1: each tap's ingress is redirected to the other (tc mirred), every frame passes unchanged.",
      ),
    )
  })

  it('cuts a link in place: no restart, only the NICs that are down are listed', () => {
    const cut = diff(
      topo(edit('{ network: wire }]', '{ network: wire, link: down }]')),
      MemoryHost.applied(topo(BASE)).snapshot(),
    )
    assert.deepEqual(actionsOf(cut), ['update vm/web'])
    assert.deepEqual(cut.actions[0]!.changes, [
      { field: 'links', before: [], after: ['eth1 down'], effect: 'in-place' },
    ])
  })

  it('announces the download of a url image that is not in the cache', () => {
    const text = edit(
      'images:\n',
      `images:\n  cloud: { url: https://example.org/d.qcow2, sha256: ${'ab'.repeat(32)} }\n`,
    ).replace('  db:\n    image: tiny', '  db:\n    image: cloud')
    const snapshot = { ...emptySnapshot('demo'), downloads: ['cloud'] }
    const plan = diff(topo(text), snapshot)
    assert.match(
      plan.notes[0]!,
      /^image\/cloud is downloaded first from https:\/\/example.org\/d.qcow2 .* sha256 is abab/,
    )
    const boot = plan.actions.find((a) => a.address === 'disk/db.boot')!.desired as { backingFile: string }
    assert.equal(
      boot.backingFile,
      `/var/lib/kvmctl/images/${'ab'.repeat(32)}`,
      'the shared cache, by content',
    )
  })

  it('changes memory for one VM only, with before and after', () => {
    const plan = planEdit(edit('  db:\n    image: tiny', '  db:\n    image: tiny\n    memory: 384M'))
    assert.deepEqual(actionsOf(plan), ['restart vm/db'])
    assert.deepEqual(plan.actions[0]!.changes, [
      { field: 'memory', before: '256M', after: '384M', effect: 'restart' },
    ])
    assert.equal(plan.actions[0]!.destroys_data, false)
  })

  it('says that replacing a boot disk destroys data, and replaces it before the VM starts again', () => {
    const plan = planEdit(edit('  db:\n    image: tiny', '  db:\n    image: other'))
    const disk = plan.actions.find((a) => a.address === 'disk/db.boot')!
    assert.equal(disk.destroys_data, true)
    assert.deepEqual(plan.actions.find((a) => a.address === 'vm/db')!.depends_on, ['disk/db.boot'])
  })

  it('adds a data disk: create the disk, restart the VM after it', () => {
    const text = edit('disks:\n  data: { size: 2G }', 'disks:\n  data: { size: 2G }\n  logs: { size: 1G }')
    const plan = planEdit(
      edit('    nics: [{ network: lan }]', '    nics: [{ network: lan }]\n    disks: [logs]', text),
    )
    assert.deepEqual(actionsOf(plan), ['create disk/logs', 'restart vm/db'])
    assert.deepEqual(plan.actions[1]!.depends_on, ['disk/logs'])
  })

  it('deletes what left the file, users before what they use', () => {
    const text = edit(
      '  db:\n    image: tiny\n    nics: [{ network: lan }]\n',
      '',
      edit(
        '    nics: [{ network: lan, ip: 10.10.0.10 }, { network: wire }]',
        '    nics: [{ network: lan, ip: 10.10.0.10 }]',
      ),
    ).replace('  wire: {}\n', '')
    const plan = planEdit(text)
    assert.deepEqual(actionsOf(plan), [
      'delete vm/db',
      'restart vm/web',
      'delete disk/db.boot',
      'delete tap/db.0',
      'delete tap/web.1',
      'delete network/wire',
    ])
    assert.equal(plan.actions.find((a) => a.address === 'disk/db.boot')!.destroys_data, true)
    assert.deepEqual(plan.actions.find((a) => a.address === 'network/wire')!.depends_on, ['tap/web.1'])
    assert.deepEqual(plan.actions.find((a) => a.address === 'tap/web.1')!.depends_on, ['vm/web'])
  })

  it('destroy deletes everything in reverse dependency order', () => {
    const plan = diff(topo(BASE), MemoryHost.applied(topo(BASE)).snapshot(), { destroy: true })
    assert.equal(plan.summary.delete, 10)
    const order = actionsOf(plan)
    assert.ok(order.indexOf('delete vm/web') < order.indexOf('delete disk/data'))
    assert.ok(order.indexOf('delete vm/web') < order.indexOf('delete tap/web.0'))
    assert.ok(order.indexOf('delete tap/web.0') < order.indexOf('delete network/lan'))
  })

  it('refuses to delete or replace a protected disk', () => {
    const text = edit('data: { size: 2G }', 'data: { size: 2G, protect: true }')
    assert.throws(
      () =>
        planEdit(
          edit('data: { size: 2G, protect: true }', 'data: { size: 2G, protect: true, format: raw }', text),
        ),
      (e: unknown) => e instanceof PlanError && /disk\/data: is protected/.test(e.message),
    )
    // Removed from the file: the protect flag recorded on the host still holds.
    const host = MemoryHost.applied(topo(text))
    const removed = edit('    disks: [data]\n', '', text).replace(
      'disks:\n  data: { size: 2G, protect: true }\n',
      '',
    )
    assert.throws(() => diff(topo(removed), host.snapshot()), /disk\/data: is protected/)
    assert.throws(() => diff(topo(text), host.snapshot(), { destroy: true }), /disk\/data: is protected/)
  })

  it('refuses to shrink a disk', () => {
    assert.throws(
      () => planEdit(edit('data: { size: 2G }', 'data: { size: 1G }')),
      /shrinking a disk is refused/,
    )
  })

  it('fails naming an object it does not own that holds a name it needs', () => {
    const topology = topo(BASE)
    const bridge = topology.networks[0]!.bridge
    const host = new MemoryHost('demo')
    host.conflicts.push({ address: 'network/lan', hostName: bridge, kind: 'bridge', owner: null })
    assert.throws(
      () => diff(topology, host.snapshot()),
      (e: unknown) =>
        e instanceof PlanError &&
        e.message.includes(`host bridge "${bridge}" already exists`) &&
        e.message.includes('network/lan'),
    )
  })

  it('limits a plan to --target and what it depends on', () => {
    const plan = diff(topo(BASE), emptySnapshot('demo'), { targets: ['vm/db'] })
    assert.deepEqual(actionsOf(plan), [
      'create network/lan',
      'create disk/db.boot',
      'create tap/db.0',
      'create vm/db',
    ])
    const net = diff(topo(BASE), emptySnapshot('demo'), { targets: ['network/wire'] })
    assert.deepEqual(actionsOf(net), ['create network/wire'])
    assert.throws(
      () => diff(topo(BASE), emptySnapshot('demo'), { targets: ['vm/wbe'] }),
      /did you mean "vm\/web"/,
    )
  })

  it('gives the same plan for the same inputs', () => {
    assert.deepEqual(diff(topo(BASE), emptySnapshot('demo')), diff(topo(BASE), emptySnapshot('demo')))
  })

  it('starts a VM whose process is gone', () => {
    const host = MemoryHost.applied(topo(BASE))
    const web = host.resources.get('vm/web') as Observed<'vm'>
    host.resources.set('vm/web', { ...web, fields: { ...web.fields, state: 'stopped' } })
    const plan = diff(topo(BASE), host.snapshot())
    assert.deepEqual(actionsOf(plan), ['update vm/web'])
    assert.deepEqual(plan.actions[0]!.changes, [
      { field: 'state', before: 'stopped', after: 'running', effect: 'in-place' },
    ])
  })

  it('warns when the lab does not fit the host', () => {
    const snapshot = {
      ...emptySnapshot('demo'),
      capacity: { memoryAvailableMiB: 300, cpus: 2, diskAvailableBytes: 1024 ** 4 },
    }
    const plan = diff(topo(BASE), snapshot)
    assert.equal(plan.warnings.length, 1)
    assert.match(plan.warnings[0]!, /512M of memory, but the host has only 300M available/)
  })
})
