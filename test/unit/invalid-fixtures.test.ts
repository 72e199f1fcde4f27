import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { kvmctl, ROOT, STACK_LINE } from '../helpers/cli.js'

// Each file under test/fixtures/invalid is one mistake a person makes. Its first line says
// where kvmctl must point: `# expect: LINE:COL KEY` (KEY: the key path, or a word of the message).
const dir = 'test/fixtures/invalid'
const fixtures = readdirSync(`${ROOT}${dir}`).filter((f) => f.endsWith('.yaml'))

describe('invalid topologies', () => {
  it('has at least 30 different mistakes', () => assert.ok(fixtures.length >= 30, String(fixtures.length)))

  for (const fixture of fixtures) {
    it(fixture, async () => {
      const file = `${dir}/${fixture}`
      const header = readFileSync(`${ROOT}${file}`, 'utf8').split('\n')[0]!
      const match = /^# expect: (\d+):(\d+) (.+)$/.exec(header)
      assert.ok(match, `${fixture} needs a "# expect: LINE:COL KEY" first line`)
      const [, line, col, key] = match
      const result = await kvmctl(['validate', '-f', file])
      assert.equal(result.code, 1, result.stderr)
      const located = result.stderr.split('\n').filter((l) => l.startsWith(`${file}:${line}:${col}: `))
      assert.ok(
        located.some((l) => l.includes(key!)),
        `expected a message at ${file}:${line}:${col} naming ${key}; got:\n${result.stderr}`,
      )
      assert.doesNotMatch(result.stderr, STACK_LINE, 'no stack trace')
      assert.equal(result.stdout, '', 'nothing on stdout')
    })
  }
})
