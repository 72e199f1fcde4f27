import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { topologyFromText } from '../../src/config/index.js'
import { TopologyError } from '../../src/lib/errors.js'
import { hostResources } from '../../src/model/address.js'
import { emptySnapshot } from '../../src/model/snapshot.js'
import { diff } from '../../src/plan/diff.js'
import { kvmctl, STACK_LINE } from '../helpers/cli.js'
import { MemoryHost } from '../helpers/memory-host.js'

// Replay a failure with KVMCTL_PROPERTY_SEED=<the seed fast-check printed>.
const seed = process.env.KVMCTL_PROPERTY_SEED ? Number(process.env.KVMCTL_PROPERTY_SEED) : undefined
const RUNS = 400

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/)

/** A valid topology: names, cross-references, addresses and sizes as the contract allows. */
const validTopology = fc
  .record({
    lab: name,
    networks: fc.uniqueArray(
      fc.record({
        name,
        cidr: fc.boolean(),
        dhcp: fc.boolean(),
        mtu: fc.option(fc.integer({ min: 576, max: 9000 })),
      }),
      {
        minLength: 1,
        maxLength: 3,
        selector: (n) => n.name,
      },
    ),
    disks: fc.uniqueArray(
      fc.record({ name, size: fc.integer({ min: 1, max: 4096 }), raw: fc.boolean(), protect: fc.boolean() }),
      {
        maxLength: 3,
        selector: (d) => d.name,
      },
    ),
    vms: fc.uniqueArray(
      fc.record({
        name,
        cpus: fc.option(fc.integer({ min: 1, max: 8 })),
        memory: fc.option(fc.constantFrom('128M', '256M', '1G', '1.5G', 512)),
        nics: fc.array(fc.record({ network: fc.nat(), ip: fc.boolean() }), { maxLength: 3 }),
        state: fc.option(fc.constantFrom('running', 'paused', 'stopped')),
      }),
      { maxLength: 4, selector: (v) => v.name },
    ),
  })
  .map(({ lab, networks, disks, vms }) => {
    const doc: Record<string, unknown> = { name: lab, images: { tiny: { kernel: './k', initrd: './i' } } }
    doc.networks = Object.fromEntries(
      networks.map((n, i) => [
        n.name,
        {
          ...(n.cidr ? { cidr: `10.${i + 1}.0.0/24`, ...(n.dhcp ? { dhcp: true } : {}) } : {}),
          ...(n.mtu !== null ? { mtu: n.mtu } : {}),
        },
      ]),
    )
    doc.disks = Object.fromEntries(
      disks.map((d) => [
        d.name,
        { size: `${d.size}M`, ...(d.raw ? { format: 'raw' } : {}), protect: d.protect },
      ]),
    )
    let host = 10
    const free = [...disks.map((d) => d.name)]
    doc.vms = Object.fromEntries(
      vms.map((vm) => [
        vm.name,
        {
          image: 'tiny',
          ...(vm.cpus !== null ? { cpus: vm.cpus } : {}),
          ...(vm.memory !== null ? { memory: vm.memory } : {}),
          ...(vm.state !== null ? { state: vm.state } : {}),
          nics: vm.nics.map((nic) => {
            const index = nic.network % networks.length
            const net = networks[index]!
            return { network: net.name, ...(net.cidr && nic.ip ? { ip: `10.${index + 1}.0.${host++}` } : {}) }
          }),
          disks: free.splice(0, 1),
        },
      ]),
    )
    return stringify(doc)
  })

type Mutation = {
  kind: 'value' | 'delete' | 'insert' | 'swap'
  line: number
  value?: unknown
  text?: string
  other?: number
}

/** Ways a person breaks a file: a wrong value, an unknown key, a lost key, a mangled line. */
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('value' as const),
    line: fc.nat(),
    value: fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constantFrom(
        '-1',
        '0',
        '1GB',
        'a;b',
        'x y',
        '"',
        '[',
        '{',
        '\t',
        '10.0.0.999',
        '1e400',
        'null',
        '~',
      ),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), line: fc.nat(), text: fc.string({ maxLength: 30 }) }),
  fc.record({ kind: fc.constant('swap' as const), line: fc.nat(), other: fc.nat() }),
)

function mutate(text: string, m: Mutation): string {
  const lines = text.split('\n')
  const i = m.line % lines.length
  if (m.kind === 'value') lines[i] = lines[i]!.replace(/:\s.*$/, `: ${String(m.value)}`)
  else if (m.kind === 'delete') lines.splice(i, 1)
  else if (m.kind === 'insert') lines.splice(i, 0, m.text ?? '')
  else {
    const j = (m.other ?? 0) % lines.length
    ;[lines[i], lines[j]] = [lines[j]!, lines[i]!]
  }
  return lines.join('\n')
}

describe('properties (fast-check)', () => {
  it(`every valid topology plans on an empty host, and resolving twice gives the same names, MACs and plan (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(validTopology, (text) => {
        const a = topologyFromText('/lab/kvmctl.yaml', text, '/var/lib/kvmctl')
        const b = topologyFromText('/lab/kvmctl.yaml', text, '/var/lib/kvmctl')
        assert.deepEqual(a, b)
        const plan = diff(a, emptySnapshot(a.lab))
        assert.deepEqual(plan, diff(b, emptySnapshot(b.lab)))
        assert.equal(plan.summary.delete, 0)
        const names = [...a.networks.map((n) => n.bridge), ...a.taps.map((t) => t.device)]
        assert.ok(names.every((n) => Buffer.byteLength(n) <= 15))
        assert.equal(new Set(names).size, names.length, 'host names never collide')
        assert.equal(new Set(a.taps.map((t) => t.mac)).size, a.taps.length, 'MACs never collide')
        assert.deepEqual(diff(a, MemoryHost.applied(a).snapshot()).actions, [], 'applied: no changes')
        assert.ok(hostResources(a).length >= a.vms.length * 2)
      }),
      { numRuns: RUNS, seed },
    )
  })

  it(`a mutated topology is accepted or refused with located problems, never anything else (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(validTopology, fc.array(mutation, { minLength: 1, maxLength: 3 }), (text, mutations) => {
        const broken = mutations.reduce((t, m) => mutate(t, m), text)
        try {
          const topology = topologyFromText('/lab/kvmctl.yaml', broken, '/var/lib/kvmctl')
          diff(topology, emptySnapshot(topology.lab))
        } catch (error) {
          if (!(error instanceof TopologyError) && (error as Error).name !== 'PlanError') throw error
          if (error instanceof TopologyError) {
            assert.ok(error.diagnostics.length > 0)
            for (const d of error.diagnostics) {
              assert.ok(d.line >= 1 && d.col >= 1 && d.message.length > 0, JSON.stringify(d))
            }
          }
        }
      }),
      { numRuns: RUNS, seed },
    )
  })

  it('through the real CLI, mutated files exit 0 or 1 and never print a stack trace', async () => {
    const dir = mkdtempSync('/tmp/kp-')
    try {
      const samples = fc.sample(fc.tuple(validTopology, fc.array(mutation, { minLength: 1, maxLength: 3 })), {
        numRuns: 15,
        seed,
      })
      for (const [index, [text, mutations]] of samples.entries()) {
        const file = `${dir}/t${index}.yaml`
        writeFileSync(
          file,
          mutations.reduce((t, m) => mutate(t, m), text),
        )
        const result = await kvmctl(['validate', '-f', file])
        assert.ok(result.code === 0 || result.code === 1, `exit ${result.code}: ${result.stderr}`)
        assert.doesNotMatch(result.stderr, STACK_LINE)
        if (result.code === 1) assert.match(result.stderr, /:\d+:\d+: /)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
