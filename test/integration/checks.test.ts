import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { DEBIAN_GUEST, DEBIAN_IMAGE, TestHost } from '../helpers/host.js'

// kvmctl test as a CI step: the lab made, its checks run (one passing, one passing on its second
// try, one failing), a JUnit report a CI system can read, the logs kept, the lab gone.
const GUEST = DEBIAN_GUEST

const TOPOLOGY = `
name: ck
${DEBIAN_IMAGE}
networks:
  lan: { cidr: 10.86.0.0/24 }
vms:
  web:
    image: debian12
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: 10.86.0.10 }]
    cloud_init: {}
    ready: { ssh: true, timeout: 600s }
checks:
  answers:
    vm: web
    run: hostname
  second-try:
    vm: web
    run: test -f /tmp/tried || { touch /tmp/tried; exit 1; }
    retries: 2
    interval: 1s
  broken:
    vm: web
    run: echo "no <database> & no luck"; exit 3
    retries: 1
    interval: 1s
`

describe('checks and kvmctl test: a CI step with a JUnit report', () => {
  let host: TestHost
  let file: string
  before(() => {
    assert.ok(existsSync(`${GUEST}/rootfs.qcow2`), 'run test/fixtures/build-debian-guest.sh first')
    host = new TestHost()
    file = host.topology('ck.yaml', TOPOLOGY)
  })
  after(() => host.cleanup())

  it('kvmctl check runs them against the lab as it is: retries, output of a failure, exit 1', async () => {
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const all = await host.kvmctl(['check', '-f', file])
    assert.equal(all.code, 1)
    assert.match(all.stdout, /✓ answers \(vm\/web, 1 try, /)
    assert.match(all.stdout, /✓ second-try \(vm\/web, 2 tries, /)
    assert.match(all.stdout, /✗ broken \(vm\/web\): exit 3 after 2 tries\n {4}no <database> & no luck/)
    assert.match(all.stderr, /1 of 3 checks failed: broken/)
    const one = await host.kvmctl(['check', 'answers', '-f', file])
    assert.equal(one.code, 0, one.stderr)
    const typo = await host.kvmctl(['check', 'answer', '-f', file])
    assert.match(typo.stderr, /has no check "answer" \(did you mean "answers"\?\)/)
  })

  it('kvmctl test: exit 1, a valid JUnit report, the logs saved, the lab gone', async () => {
    const report = `${host.dir}/r.xml`
    const artifacts = `${host.dir}/art`
    // The lab is up already: apply has nothing to do, the checks run, the lab goes.
    const result = await host.kvmctl(['test', '-f', file, '--junit', report, '--artifacts', artifacts])
    assert.equal(result.code, 1, result.stderr)
    assert.match(result.stdout, /✗ broken \(vm\/web\): exit 3 after 2 tries/)
    assert.match(result.stderr, /1 of 3 checks failed: broken/)

    const xml = readFileSync(report, 'utf8')
    assert.equal(XMLValidator.validate(xml), true, 'well-formed XML')
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml)
    const suite = parsed.testsuites.testsuite
    assert.deepEqual([suite.name, suite.tests, suite.failures], ['ck', '3', '1'])
    const cases = new Map(
      (suite.testcase as { name: string }[]).map((c) => [c.name, c as Record<string, unknown>]),
    )
    assert.deepEqual([...cases.keys()].sort(), ['answers', 'broken', 'second-try'])
    assert.equal(cases.get('answers')!.failure, undefined)
    const failure = cases.get('broken')!.failure as { message: string; '#text': string }
    assert.equal(failure.message, 'exit 3 after 2 tries')
    assert.match(failure['#text'], /no <database> & no luck/)

    assert.match(readFileSync(`${artifacts}/vm-web/serial.log`, 'utf8'), /Cloud-init .* finished/)
    assert.ok(existsSync(`${artifacts}/vm-web/qemu.log`))
    assert.equal(existsSync(`${host.stateDir}/ck`), false, 'the lab is gone')
    assert.deepEqual(host.pids(), [])
  })
})
