import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import { kvmctl, STACK_LINE } from '../helpers/cli.js'

describe('the CLI without a host', () => {
  const dir = mkdtempSync('/tmp/kc-')
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('init writes a starter that validates, and will not overwrite it without --force', async () => {
    const file = `${dir}/kvmctl.yaml`
    const init = await kvmctl(['init', '-f', file, '--name', 'starter'])
    assert.equal(init.code, 0, init.stderr)
    assert.match(init.stdout, /kvmctl image build-tiny /)
    assert.match(
      readFileSync(file, 'utf8'),
      /^# yaml-language-server: \$schema=.*schemas\/topology\.schema\.json$/m,
    )
    assert.equal((await kvmctl(['validate', '-f', file])).code, 0)
    const again = await kvmctl(['init', '-f', file])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /exists already/)
    assert.doesNotMatch(again.stderr, STACK_LINE)
    assert.equal((await kvmctl(['init', '-f', file, '--force'])).code, 0)
  })

  it('schema prints the JSON Schema', async () => {
    const result = await kvmctl(['schema'])
    assert.equal(result.code, 0)
    const schema = JSON.parse(result.stdout)
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#')
    assert.deepEqual(schema.required, ['name'])
  })

  it('graph draws Mermaid by default and DOT on request', async () => {
    const mermaid = await kvmctl(['graph', '-f', 'examples/router.yaml'])
    assert.match(mermaid.stdout, /^flowchart LR\n/)
    assert.match(mermaid.stdout, /vm_router ---\|"eth0 10\.1\.0\.254"\| net_left/)
    const dot = await kvmctl(['graph', '-f', 'examples/router.yaml', '--format', 'dot'])
    assert.match(dot.stdout, /^graph "router" \{/)
  })

  it('an unknown flag or command is a short error, exit 1, no stack trace', async () => {
    const flag = await kvmctl(['plan', '--frobnicate'])
    assert.equal(flag.code, 1)
    assert.doesNotMatch(flag.stderr, STACK_LINE)
    const command = await kvmctl(['plna'])
    assert.equal(command.code, 1, 'exit 2 is kept for "changes found"')
    assert.match(command.stderr, /unknown command "plna" \(did you mean "plan"\?\)/)
    assert.doesNotMatch(command.stderr, STACK_LINE)
  })

  it('plan, apply and destroy: flags, --json, errors, exit codes, --help and bad flags, all through oclif', async () => {
    const state = ['--state-dir', `${dir}/state`]
    const text = await kvmctl(['plan', '-f', 'examples/quickstart.yaml', ...state, '--detailed-exitcode'])
    assert.equal(text.code, 2, text.stderr)
    assert.match(text.stdout, /^Plan: 7 to create, 0 to update, 0 to restart, 0 to replace, 0 to delete\.$/m)
    const json = await kvmctl([
      'plan',
      '--file=examples/quickstart.yaml',
      ...state,
      '--json',
      '--target',
      'vm/alpha',
    ])
    assert.equal(json.code, 0, json.stderr)
    assert.equal(JSON.parse(json.stdout).summary.create, 4, 'vm/alpha, its disk, tap and network')
    const missing = await kvmctl(['plan', '-f', `${dir}/nope.yaml`, '--json'])
    assert.equal(missing.code, 1)
    assert.match(JSON.parse(missing.stdout).error.message, /cannot read topology .*nope\.yaml/)
    assert.match(missing.stderr, /^Hint: pass the topology with -f PATH/m)
    const help = await kvmctl(['plan', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /USAGE\n {2}\$ kvmctl plan/)
    const bad = await kvmctl(['plan', '--capacity', 'maybe'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /Expected --capacity=maybe to be one of: warn, error/)
    const parallelism = await kvmctl(['destroy', '--parallelism', '0'])
    assert.equal(parallelism.code, 1)
    assert.match(parallelism.stderr, /Expected an integer greater than or equal to 1 but received: 0/)
    const extra = await kvmctl(['apply', 'one.plan', 'two.plan'])
    assert.equal(extra.code, 1)
    assert.match(extra.stderr, /Unexpected argument: two\.plan/)
    const lab = await kvmctl(['destroy', '--lab', 'Bad!', '--auto-approve', '--state-dir', `${dir}/state`])
    assert.equal(lab.code, 1)
    assert.match(lab.stderr, /^Error: bad lab name "Bad!"\nHint: a lab name is a lowercase letter/m)
  })
})
