import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { execute } from '../../src/apply/executor.js'
import { topologyFromText } from '../../src/config/index.js'
import { emptySnapshot } from '../../src/model/snapshot.js'
import { diff } from '../../src/plan/diff.js'
import type { Action } from '../../src/plan/types.js'
import { MemoryHost } from '../helpers/memory-host.js'

const LAB = `
name: demo
images: { tiny: { kernel: ./k } }
networks: { lan: {}, wire: {} }
disks: { data: { size: 1G } }
vms:
  web: { image: tiny, nics: [{ network: lan }], disks: [data] }
  db: { image: tiny, nics: [{ network: wire }] }
`
const topology = topologyFromText('/lab/kvmctl.yaml', LAB, '/var/lib/kvmctl')

describe('executor', () => {
  it('applies a plan to the in-memory host until it has nothing left to do', async () => {
    const host = new MemoryHost('demo')
    const plan = diff(topology, host.snapshot())
    const result = await execute(plan, host.stepRunner(topology), { parallelism: 4 })
    assert.equal(result.ok, true)
    assert.equal(result.done.length, plan.actions.length)
    assert.deepEqual(diff(topology, host.snapshot()).actions, [])
  })

  it('never starts an action before what it depends on is done, and respects parallelism', async () => {
    const host = new MemoryHost('demo')
    const plan = diff(topology, host.snapshot())
    const finished = new Set<string>()
    let running = 0
    let most = 0
    const inner = host.stepRunner(topology, { delayMs: 5 })
    const result = await execute(
      plan,
      async (action: Action) => {
        for (const dep of action.depends_on) assert.ok(finished.has(dep), `${dep} before ${action.address}`)
        running++
        most = Math.max(most, running)
        await inner(action)
        running--
        finished.add(action.address)
      },
      { parallelism: 2 },
    )
    assert.equal(result.ok, true)
    assert.equal(most, 2, 'two at a time, never more')
  })

  it('stops the dependents of a failed step and goes on with the rest', async () => {
    const host = new MemoryHost('demo')
    const plan = diff(topology, host.snapshot())
    const result = await execute(plan, host.stepRunner(topology, { failOn: new Set(['network/lan']) }), {
      parallelism: 4,
    })
    assert.equal(result.ok, false)
    assert.deepEqual(
      result.failed.map((f) => f.address),
      ['network/lan'],
    )
    assert.deepEqual(result.skipped.map((s) => s.address).sort(), ['tap/web.0', 'vm/web'])
    assert.ok(result.done.includes('vm/db'), 'the independent VM was still made')
    // The next apply picks up exactly what is left.
    const next = diff(topology, host.snapshot())
    assert.deepEqual(next.actions.map((a) => a.address).sort(), ['network/lan', 'tap/web.0', 'vm/web'])
  })

  it('starts nothing new once interrupted, and lets the steps in flight finish', async () => {
    const host = new MemoryHost('demo')
    const plan = diff(topology, emptySnapshot('demo'))
    const interrupt = new AbortController()
    const started: string[] = []
    const inner = host.stepRunner(topology, { delayMs: 20 })
    const result = await execute(
      plan,
      async (action) => {
        started.push(action.address)
        if (started.length === 1) interrupt.abort()
        await inner(action)
      },
      { parallelism: 1, signal: interrupt.signal },
    )
    assert.equal(result.interrupted, true)
    assert.deepEqual(result.done, [started[0]], 'the step in flight finished')
    assert.equal(started.length, 1)
    assert.equal(result.skipped.length, plan.actions.length - 1)
  })
})
