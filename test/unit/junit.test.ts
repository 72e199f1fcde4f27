import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { renderJunit } from '../../src/render/junit.js'

describe('JUnit report', () => {
  it('is well-formed whatever a guest printed, and counts tests and failures', () => {
    const xml = renderJunit(
      'demo',
      [
        { name: 'ok', vm: 'web', passed: true, attempts: 1, exitCode: 0, output: 'fine\n', seconds: 0.5 },
        {
          name: 'bad "one"',
          vm: 'db',
          passed: false,
          attempts: 3,
          exitCode: 2,
          output: 'a<b>&c\u0007\u001b[31m\n',
          seconds: 4,
        },
        { name: 'slow', vm: 'db', passed: false, attempts: 1, exitCode: null, output: '', seconds: 60 },
      ],
      64.5,
    )
    assert.equal(XMLValidator.validate(xml), true)
    const suite = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml).testsuites
      .testsuite
    assert.deepEqual([suite.tests, suite.failures, suite.time], ['3', '2', '64.500'])
    const [ok, bad, slow] = suite.testcase
    assert.equal(ok.failure, undefined)
    assert.deepEqual(
      [bad.name, bad.classname, bad.failure.message],
      ['bad "one"', 'demo.db', 'exit 2 after 3 tries'],
    )
    assert.match(bad.failure['#text'], /^a<b>&c\ufffd\ufffd\[31m/)
    assert.equal(slow.failure.message, 'timed out after 1 tries')
  })
})
