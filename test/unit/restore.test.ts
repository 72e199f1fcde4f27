import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { topologyFromText } from '../../src/config/index.js'
import type { KvmctlError } from '../../src/lib/errors.js'
import type { SnapshotRecord } from '../../src/model/saved-state.js'
import { argvChange, planRestore, type RestoreInput } from '../../src/plan/restore.js'

const TEXT = `
name: demo
defaults: { cpus: 1, memory: 256M }
images:
  tiny: { kernel: ./k, initrd: ./i }
networks:
  lan: { cidr: 10.10.0.0/24 }
disks:
  data: { size: 1G }
  vault: { size: 1G, protect: true }
vms:
  web: { image: tiny, nics: [{ network: lan }], disks: [data] }
  db: { image: tiny, nics: [{ network: lan }], disks: [vault] }
`
const topology = topologyFromText('/lab/kvmctl.yaml', TEXT, '/var/lib/kvmctl')
const ARGV = ['qemu-system-x86_64', '-m', '256', '-smp', '1']

const record: SnapshotRecord = {
  name: 'base',
  lab: 'demo',
  created: '2026-11-30T09:00:00.000Z',
  vms: {
    web: {
      state: 'running',
      memory: true,
      diskOnlyBecause: null,
      argv: ARGV,
      disks: [
        { name: 'web.boot', node: 'disk0' },
        { name: 'data', node: 'disk1' },
      ],
    },
    db: {
      state: 'running',
      memory: true,
      diskOnlyBecause: null,
      argv: ARGV,
      disks: [
        { name: 'db.boot', node: 'disk0' },
        { name: 'vault', node: 'disk1' },
      ],
    },
  },
}

const input = (over: Partial<RestoreInput> = {}): RestoreInput => ({
  record,
  topology,
  targets: [],
  runningArgv: () => ARGV,
  desiredArgv: () => ARGV,
  diskHasSnapshot: () => true,
  ...over,
})

describe('snapshot restore plan', () => {
  it('refuses to roll back a protected disk unless the restore is limited with --target', () => {
    assert.throws(
      () => planRestore(input()),
      (e: KvmctlError) => {
        assert.match(e.message, /disk\/vault, which is protected/)
        assert.match(e.hint ?? '', /--target vm\/NAME/)
        return true
      },
    )
    assert.throws(() => planRestore(input({ targets: ['disk/vault'] })), /never rolls it back/)
  })

  it('restores an unchanged running VM from memory in its own QEMU, resumed as it was', () => {
    const plan = planRestore(input({ targets: ['vm/web'] }))
    assert.deepEqual(plan.steps, [
      {
        vm: 'web',
        memory: true,
        restart: false,
        resume: true,
        disks: ['web.boot', 'data'],
        kept: [],
        notes: [],
      },
    ])
  })

  it('loads the memory into a new QEMU when the VM does not run or runs another command line (-S aside)', () => {
    const stopped = planRestore(input({ targets: ['vm/web'], runningArgv: () => null }))
    assert.equal(stopped.steps[0]!.memory, true)
    assert.equal(stopped.steps[0]!.restart, true)
    const drifted = planRestore(
      input({ targets: ['vm/web'], runningArgv: () => ['qemu-system-x86_64', '-m', '512'] }),
    )
    assert.equal(drifted.steps[0]!.memory, true)
    assert.equal(drifted.steps[0]!.restart, true)
    const paused = planRestore(input({ targets: ['vm/web'], runningArgv: () => [...ARGV, '-S'] }))
    assert.equal(paused.steps[0]!.restart, false, '-S only says how QEMU started')
  })

  it('rolls back only the disks of a VM whose configuration changed, and says what changed', () => {
    const desired = ['qemu-system-x86_64', '-m', '512', '-smp', '1']
    const plan = planRestore(input({ targets: ['vm/web'], desiredArgv: () => desired }))
    const step = plan.steps[0]!
    assert.equal(step.memory, false)
    assert.equal(step.restart, true)
    assert.match(step.notes.join('\n'), /-m 256 → -m 512/)
  })

  it('keeps a protected disk of a targeted VM and restarts it from its other disks', () => {
    const step = planRestore(input({ targets: ['vm/db'] })).steps[0]!
    assert.equal(step.memory, false)
    assert.deepEqual(step.disks, ['db.boot'])
    assert.deepEqual(step.kept, ['vault'])
  })

  it('skips a VM whose disk no longer holds the snapshot, and a VM that left the topology', () => {
    const plan = planRestore(input({ targets: ['vm/web'], diskHasSnapshot: (d) => d !== 'data' }))
    assert.deepEqual(plan.steps, [])
    assert.match(plan.skipped[0]!.why, /disk\/data no longer hold/)
    const gone = planRestore({
      ...input({ targets: ['vm/web'] }),
      topology: { ...topology, vms: topology.vms.filter((v) => v.name !== 'web') },
    })
    assert.deepEqual(gone.skipped, [{ vm: 'web', why: 'it is no longer in the topology' }])
  })

  it('names the VMs of the snapshot when a target is not one of them', () => {
    assert.throws(() => planRestore(input({ targets: ['vm/nope'] })), /has no vm\/nope/)
  })
})

describe('QEMU command line differences', () => {
  it('shows the options that differ, none when equal', () => {
    assert.equal(argvChange(ARGV, ARGV), null)
    assert.equal(argvChange(ARGV, [...ARGV, '-S']), 'added -S')
    assert.equal(argvChange(ARGV, ['qemu-system-x86_64', '-m', '256', '-smp', '2']), '-smp 1 → -smp 2')
  })
})
