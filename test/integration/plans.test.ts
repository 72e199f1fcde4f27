import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { STACK_LINE } from '../helpers/cli.js'
import { editFile, TestHost } from '../helpers/host.js'

const NETS = `
name: plans
networks:
  lan:
    cidr: 10.50.0.0/24
  wire: {}
`

describe('saved plans, confirmation and machine output', () => {
  let host: TestHost
  let file: string
  const owned = () =>
    host
      .links()
      .filter((l) => l.ifalias?.startsWith('kvmctl:plans:'))
      .map((l) => l.ifalias!.replace(`:${host.stateDir}`, ''))

  before(() => {
    host = new TestHost()
    file = host.topology('plans.yaml', NETS)
  })
  after(() => host.cleanup())

  it('refuses to apply without a terminal and without --auto-approve, changing nothing', async () => {
    const result = await host.kvmctl(['apply', '-f', file])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /refusing to apply without confirmation: there is no terminal to ask on/)
    assert.match(result.stderr, /--auto-approve/)
    assert.deepEqual(owned(), [])
  })

  it('plan --json is the versioned plan', async () => {
    const result = await host.kvmctl(['plan', '-f', file, '--json'])
    assert.equal(result.code, 0, result.stderr)
    const plan = JSON.parse(result.stdout)
    assert.equal(plan.format_version, 1)
    assert.equal(plan.lab, 'plans')
    assert.match(plan.observed, /^sha256:/)
    assert.deepEqual(plan.summary, { create: 2, update: 0, restart: 0, replace: 0, delete: 0 })
    assert.deepEqual(Object.keys(plan.actions[0]).sort(), [
      'action',
      'address',
      'changes',
      'current',
      'depends_on',
      'desired',
      'destroys_data',
      'name',
      'type',
    ])
  })

  it('--target limits apply to one resource', async () => {
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--target', 'network/wire'])
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(owned(), ['kvmctl:plans:network/wire'])
  })

  it('apply PLANFILE refuses a plan made before the host changed, and one made before the file changed', async () => {
    const planFile = `${host.dir}/p.plan`
    assert.equal((await host.kvmctl(['plan', '-f', file, '--out', planFile])).code, 0)
    const wire = host.link('plans', 'network/wire')!
    host.ip('link', 'set', wire.ifname, 'mtu', '1300')
    const stale = await host.kvmctl(['apply', planFile, '-f', file, '--auto-approve'])
    assert.equal(stale.code, 1)
    assert.match(stale.stderr, /the host changed since .* was made/)
    assert.deepEqual(owned(), ['kvmctl:plans:network/wire'], 'nothing was changed')

    assert.equal((await host.kvmctl(['plan', '-f', file, '--out', planFile])).code, 0)
    editFile(file, 'cidr: 10.50.0.0/24', 'cidr: 10.51.0.0/24')
    const edited = await host.kvmctl(['apply', planFile, '-f', file, '--auto-approve'])
    assert.equal(edited.code, 1)
    assert.match(edited.stderr, /the topology changed since/)
    writeFileSync(file, NETS)
  })

  it('apply PLANFILE carries out exactly the saved plan', async () => {
    const planFile = `${host.dir}/p.plan`
    assert.equal((await host.kvmctl(['plan', '-f', file, '--out', planFile])).code, 0)
    const result = await host.kvmctl(['apply', planFile, '-f', file, '--auto-approve', '--json'])
    assert.equal(result.code, 0, result.stderr)
    const outcome = JSON.parse(result.stdout)
    assert.equal(outcome.result.ok, true)
    assert.deepEqual(outcome.result.done.sort(), ['network/lan', 'network/wire'])
    const again = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(again.code, 0, again.stdout)
  })

  it('a corrupt plan file is a clear error', async () => {
    const planFile = `${host.dir}/bad.plan`
    writeFileSync(planFile, '{"format_version": 1, "actions": [')
    const result = await host.kvmctl(['apply', planFile, '-f', file, '--auto-approve'])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /cannot read the plan .*bad\.plan/)
    assert.doesNotMatch(result.stderr, STACK_LINE)
  })

  it('a lab too big for the host is a warning, or an error with --capacity error', async () => {
    const big = host.topology(
      'big.yaml',
      `${NETS}images: { tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz } }\nvms:\n  huge: { image: tiny, memory: 4T, nics: [{ network: lan }] }\n`,
    )
    const warn = await host.kvmctl(['plan', '-f', big])
    assert.equal(warn.code, 0, warn.stderr)
    assert.match(
      warn.stdout,
      /Warning: this plan starts VMs with 4T of memory, but the host has only .* available/,
    )
    const strict = await host.kvmctl(['plan', '-f', big, '--capacity', 'error'])
    assert.equal(strict.code, 1)
    assert.match(strict.stderr, /4T of memory/)
  })

  it('destroy --lab removes the lab without its topology file, and nothing of another lab', async () => {
    const other = host.topology(
      'other.yaml',
      NETS.replace('name: plans', 'name: keep').replace('10.50.0.0/24', '10.52.0.0/24'),
    )
    assert.equal((await host.kvmctl(['apply', '-f', other, '--auto-approve'])).code, 0)
    assert.equal(owned().length, 2)
    const result = await host.kvmctl([
      'destroy',
      '--lab',
      'plans',
      '-f',
      '/nonexistent.yaml',
      '--auto-approve',
    ])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /Destroy complete: .* 2 deleted\./)
    assert.deepEqual(owned(), [])
    assert.equal(
      host.links().filter((l) => l.ifalias?.startsWith('kvmctl:keep:')).length,
      2,
      'the other lab is untouched',
    )
    assert.equal((await host.kvmctl(['destroy', '-f', other, '--auto-approve'])).code, 0)
  })
})
