import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { kvmctl } from '../helpers/cli.js'
import { DEBIAN_GUEST, DEBIAN_IMAGE, TestHost } from '../helpers/host.js'

// Three Debian guests, as a CI environment has them: a command on all of them at once, by name
// or by label, and files copied in and out.
const GUEST = DEBIAN_GUEST

const vm = (ip: string, role: string) => `
    image: debian12
    cpus: 1
    memory: 768M
    labels: { role: ${role} }
    nics: [{ network: lan, ip: ${ip} }]
    cloud_init: {}
    ready: { ssh: true, timeout: 600s }`

const TOPOLOGY = `
name: ex
${DEBIAN_IMAGE}
networks:
  lan: { cidr: 10.85.0.0/24 }
vms:
  a:${vm('10.85.0.10', 'web')}
  b:${vm('10.85.0.11', 'web')}
  c:${vm('10.85.0.12', 'db')}
`

describe('exec and cp: a command on many VMs, files in and out', () => {
  let host: TestHost
  let file: string
  before(async () => {
    assert.ok(existsSync(`${GUEST}/rootfs.qcow2`), 'run test/fixtures/build-debian-guest.sh first')
    host = new TestHost()
    file = host.topology('ex.yaml', TOPOLOGY)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
  })
  after(() => host.cleanup())

  // --state-dir before `--`: what follows it is the command.
  const exec = (pick: string[], command: string) =>
    kvmctl(['exec', ...pick, '-f', file, '--state-dir', host.stateDir, '--', command], { netns: host.netns })

  it('exec --all -- hostname: each VM answers once, prefixed with its name, exit 0', async () => {
    const result = await exec(['--all'], 'hostname')
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(result.stdout.split('\n').filter(Boolean).sort(), ['a | a', 'b | b', 'c | c'])
  })

  it('picks VMs by label, and by name; one failing VM makes it exit 1 and is named', async () => {
    const web = await exec(['--label', 'role=web'], 'hostname')
    assert.deepEqual(web.stdout.split('\n').filter(Boolean).sort(), ['a | a', 'b | b'])
    const one = await exec(['a', 'c'], 'test "$(hostname)" = a')
    assert.equal(one.code, 1)
    assert.match(one.stderr, /failed on 1 of 2 VMs: vm\/c \(exit 1\)/)
    const json = await exec(['--all', '--json'], 'echo out; echo err >&2; test "$(hostname)" != c || exit 3')
    assert.equal(json.code, 1, 'c failed')
    const results = JSON.parse(json.stdout) as {
      vm: string
      exit_code: number
      stdout: string
      stderr: string
    }[]
    assert.deepEqual(
      results.map((r) => [r.vm, r.exit_code, r.stdout, r.stderr]),
      [
        ['a', 0, 'out\n', 'err\n'],
        ['b', 0, 'out\n', 'err\n'],
        ['c', 3, 'out\n', 'err\n'],
      ],
    )
  })

  it('cp copies a directory into a VM and back out, recursively', async () => {
    const tree = `${host.dir}/tree`
    mkdirSync(`${tree}/sub`, { recursive: true })
    writeFileSync(`${tree}/one.txt`, 'one\n')
    writeFileSync(`${tree}/sub/two.txt`, 'two\n')
    const into = await host.kvmctl(['cp', '-f', file, tree, 'a:/tmp/tree'])
    assert.equal(into.code, 0, into.stderr)
    const listed = await exec(['a'], 'cat /tmp/tree/one.txt /tmp/tree/sub/two.txt')
    assert.equal(listed.stdout, 'a | one\na | two\n', listed.stderr)
    const back = await host.kvmctl(['cp', '-f', file, 'a:/tmp/tree', `${host.dir}/back`])
    assert.equal(back.code, 0, back.stderr)
    assert.equal(readFileSync(`${host.dir}/back/sub/two.txt`, 'utf8'), 'two\n')
    const both = await host.kvmctl(['cp', '-f', file, 'a:/tmp/tree', 'b:/tmp/tree'])
    assert.equal(both.code, 1)
    assert.match(both.stderr, /both sides are VMs/)
  })

  it('destroy leaves nothing', async () => {
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.deepEqual(host.pids(), [])
  })
})
