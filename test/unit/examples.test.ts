import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { diffLines } from 'diff'
import { loadTopology } from '../../src/config/index.js'
import { partOn } from '../../src/model/placement.js'
import { emptySnapshot, type HostSnapshot } from '../../src/model/snapshot.js'
import type { Topology } from '../../src/model/types.js'
import { planAcross } from '../../src/plan/across-hosts.js'
import { diff } from '../../src/plan/diff.js'
import { topologyHash } from '../../src/plan/fingerprint.js'
import type { Plan } from '../../src/plan/types.js'
import { renderDot, renderMermaid } from '../../src/render/graph.js'
import { renderPlan } from '../../src/render/plan-text.js'
import { plainStyle } from '../../src/render/style.js'
import { kvmctl, ROOT } from '../helpers/cli.js'
import { MemoryHost } from '../helpers/memory-host.js'

// Golden files under test/golden: UPDATE_GOLDEN=1 npm test writes them anew; review the diff. A
// missing one fails the test otherwise: a golden file nobody wrote checks nothing.
const STATE = '/var/lib/kvmctl'
const examples = readdirSync(`${ROOT}examples`).filter((f) => f.endsWith('.yaml'))

function golden(name: string, actual: string) {
  const path = `${ROOT}test/golden/${name}`
  // Paths, and the hash over them, depend on where the repository is checked out.
  const text = actual
    .replaceAll(ROOT, '<root>/')
    .replace(/"topology": "sha256:[0-9a-f]+"/g, '"topology": "<hash>"')
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text)
  assert.ok(existsSync(path), `${name} has no golden file; UPDATE_GOLDEN=1 writes it (review it)`)
  const expected = readFileSync(path, 'utf8')
  if (text !== expected) {
    const changed = diffLines(expected, text)
      .filter((part) => part.added || part.removed)
      .map((part) => part.value.replace(/^/gm, part.added ? '+ ' : '- '))
      .join('')
    assert.fail(
      `${name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it):\n${changed.slice(0, 3000)}`,
    )
  }
}

/** The plan of an example: of its one host, or across its hosts (each part against its host). */
function planOf(topology: Topology, snapshotOf: (part: Topology) => HostSnapshot): Plan {
  if (topology.hosts.length === 0) return diff(topology, snapshotOf(topology))
  const facts = new Map(topology.hosts.map((h) => [h.name, { underlayDev: 'eth0' }]))
  const parts = topology.hosts.map((host) => {
    const part = partOn(topology, host.name, facts)
    return {
      host,
      topology: part,
      snapshot: snapshotOf(part),
      version: '0.0.0',
      underlayMtu: 1500,
      unreachable: null,
      leaving: false,
    }
  })
  return planAcross(topology.lab, topologyHash(topology), parts, {})
}

describe('examples', () => {
  it('there are the quickstart, router and CI examples', () => {
    for (const name of ['quickstart.yaml', 'router.yaml', 'ci-env.yaml'])
      assert.ok(examples.includes(name), name)
  })

  for (const example of examples) {
    const base = example.replace(/\.yaml$/, '')
    it(`${example} validates with the CLI`, async () => {
      const result = await kvmctl(['validate', '-f', `examples/${example}`])
      assert.equal(result.code, 0, result.stderr)
      assert.match(result.stdout, /is valid/)
    })
    it(`${example} plans on an empty host (golden text and JSON)`, async () => {
      const { topology } = await loadTopology(`${ROOT}examples/${example}`, STATE)
      const plan = planOf(topology, (part) => emptySnapshot(part.lab))
      assert.ok(plan.summary.create > 0)
      golden(`${base}.plan.txt`, `${renderPlan(plan, plainStyle)}\n`)
      golden(`${base}.plan.json`, `${JSON.stringify(plan, null, 2)}\n`)
    })
    it(`${example} has no changes once applied`, async () => {
      const { topology } = await loadTopology(`${ROOT}examples/${example}`, STATE)
      const plan = planOf(topology, (part) => MemoryHost.applied(part).snapshot())
      assert.equal(
        renderPlan(plan, plainStyle),
        `No changes. The ${topology.hosts.length > 0 ? 'hosts match' : 'host matches'} lab "${topology.lab}".`,
      )
    })
    it(`${example} draws as Mermaid and DOT (golden)`, async () => {
      const { topology } = await loadTopology(`${ROOT}examples/${example}`, STATE)
      golden(`${base}.mmd`, renderMermaid(topology))
      golden(`${base}.dot`, renderDot(topology))
    })
  }

  it('renders a plan of changes: update, create, restart, a delete that destroys data, a long value as a diff', async () => {
    const { topology: before } = await loadTopology(`${ROOT}examples/ci-env.yaml`, STATE)
    const host = MemoryHost.applied(before)
    const text = readFileSync(`${ROOT}examples/ci-env.yaml`, 'utf8')
      .replace('    memory: 1G\n', '    memory: 1536M\n')
      .replace(
        'cmdline: kv.name=app kv.dhcp=1',
        'cmdline: kv.name=app kv.dhcp=1 kv.ping=192.168.77.20 loglevel=7 panic=10',
      )
      .replace(
        '  pgdata:\n    size: 2G\n    protect: true\n',
        '  pgdata:\n    size: 4G\n    protect: true\n  scratch:\n    size: 1G\n',
      )
    const { topologyFromText } = await import('../../src/config/index.js')
    const after = topologyFromText(`${ROOT}examples/ci-env.yaml`, text, STATE)
    const web = host.resources.get('vm/app')!
    host.resources.set('vm/old', { ...web, address: 'vm/old', name: 'old', uses: ['disk/old.boot'] })
    host.resources.set('disk/old.boot', {
      ...host.resources.get('disk/app.boot')!,
      address: 'disk/old.boot',
      name: 'old.boot',
    })
    const plan = diff(after, host.snapshot())
    golden('ci-env-changes.plan.txt', `${renderPlan(plan, plainStyle)}\n`)
    assert.match(
      renderPlan(plan, plainStyle),
      /Plan: 1 to create, 1 to update, 2 to restart, 0 to replace, 2 to delete\./,
    )
    assert.match(renderPlan(plan, plainStyle), /^ {2}- delete disk\/old\.boot {2}destroys data$/m)
  })
})
