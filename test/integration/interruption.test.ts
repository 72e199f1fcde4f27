import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { TestHost } from '../helpers/host.js'

/**
 * SIGKILL at every step. kvmctl runs one step at a time (--parallelism 1) and prints a line
 * as each begins; the test kills it when the Nth line appears, so the step is in flight.
 */
describe('interrupted apply and destroy converge', () => {
  let host: TestHost
  let file: string
  const STEPS = 7 // quickstart: network, 2 disks, 2 taps, 2 VMs

  before(() => {
    host = new TestHost()
    // Without --wait, VMs need not boot: shorten the test by not pinging.
    file = host.example('quickstart.yaml')
  })
  after(() => host.cleanup())

  const owned = () =>
    host
      .links()
      .filter((l) => l.ifalias?.startsWith('kvmctl:'))
      .map((l) => `${l.ifalias} ${l.master ?? ''}`)
      .sort()
  const labFiles = () => {
    const dir = `${host.stateDir}/quickstart`
    return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : []
  }
  const killAtStep = (command: 'apply' | 'destroy', step: number) =>
    new Promise<boolean>((resolve) => {
      const child = host.spawn([command, '-f', file, '--auto-approve', '--parallelism', '1'])
      let started = 0
      let killed = false
      child.stderr.setEncoding('utf8')
      child.stderr.on('data', (chunk: string) => {
        started += chunk
          .split('\n')
          .filter((l) => /: (creating|deleting|updating|restarting)\.\.\.$/.test(l)).length
        if (!killed && started >= step) {
          killed = true
          child.kill('SIGKILL')
        }
      })
      child.on('close', () => resolve(killed))
    })

  let reference: { links: string[]; files: string[] }

  it('an uninterrupted apply gives the reference host', async () => {
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    reference = { links: owned(), files: labFiles().filter((f) => !f.endsWith('.log')) }
    assert.equal(reference.links.length, 3)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  for (let step = 1; step <= STEPS; step++) {
    it(`apply killed at step ${step} of ${STEPS}: the next apply converges, destroy leaves nothing`, async () => {
      assert.equal(await killAtStep('apply', step), true, 'killed mid-way')
      const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
      assert.equal(apply.code, 0, apply.stderr)
      assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
      assert.deepEqual(owned(), reference.links)
      assert.deepEqual(
        labFiles().filter((f) => !f.endsWith('.log')),
        reference.files,
      )
      assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
      assert.deepEqual(owned(), [])
      assert.deepEqual(labFiles(), [])
      assert.deepEqual(host.pids(), [])
    })
  }

  it('Ctrl-C (SIGINT) finishes the step in flight, starts no new one, exits 1; apply then converges', async () => {
    const child = host.spawn(['apply', '-f', file, '--auto-approve', '--parallelism', '1'])
    let stderr = ''
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      const began = (stderr.match(/\.\.\.$/gm) ?? []).length
      stderr += chunk
      if (began < 2 && (stderr.match(/\.\.\.$/gm) ?? []).length >= 2) child.kill('SIGINT')
    })
    const code = await new Promise((resolve) => child.on('close', resolve))
    assert.equal(code, 1, stderr)
    assert.match(stderr, /Interrupted: finishing the steps in flight, starting no new ones/)
    const started = stderr.match(/^(\S+): creating\.\.\.$/gm) ?? []
    const finished = stderr.match(/^(\S+): created \(/gm) ?? []
    assert.equal(started.length, 2, stderr)
    assert.equal(finished.length, 2, 'the step in flight finished')
    assert.match(stderr, /interrupted: 5 step\(s\) not started/)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.match(apply.stdout, /Apply complete: 5 created/)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  for (let step = 1; step <= STEPS; step++) {
    it(`destroy killed at step ${step} of ${STEPS}: the next destroy leaves nothing`, async () => {
      assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
      assert.equal(await killAtStep('destroy', step), true, 'killed mid-way')
      const destroy = await host.kvmctl(['destroy', '-f', file, '--auto-approve'])
      assert.equal(destroy.code, 0, destroy.stderr)
      assert.deepEqual(owned(), [])
      assert.deepEqual(labFiles(), [])
      assert.deepEqual(host.pids(), [])
    })
  }

  it('a half-written record of a killed kvmctl (<file>.tmp-<pid>) is swept by the next apply', async () => {
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const dead = spawnSync('true').pid!
    const dir = `${host.stateDir}/quickstart`
    for (const f of [`vm-alpha/spec.json.tmp-${dead}`, `disks/alpha.boot.json.tmp-${dead}`])
      writeFileSync(`${dir}/${f}`, '{"half":')
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.deepEqual(
      labFiles().filter((f) => f.includes('.tmp-')),
      [],
    )
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })
})
