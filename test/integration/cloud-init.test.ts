import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { kvmctl } from '../helpers/cli.js'
import { DEBIAN_GUEST, DEBIAN_IMAGE, editFile, TestHost } from '../helpers/host.js'

// A real Debian 12 with cloud-init and OpenSSH, built from Debian's packages by
// test/fixtures/build-debian-guest.sh (scripts/test.sh runs it; cached between runs).
const GUEST = DEBIAN_GUEST

// One vCPU: two MTTCG vCPU threads on a 2-core host once hung this guest's kernel early in a
// boot, both threads spinning, until the 600 s ready timeout (seen once in CI, not again).
const TOPOLOGY = `
name: deb
${DEBIAN_IMAGE}
networks:
  lan: { cidr: 10.71.0.0/24, dhcp: true }
vms:
  web:
    image: debian12
    disk_size: 4G
    cpus: 1
    memory: 1G
    nics: [{ network: lan, ip: 10.71.0.10 }]
    cloud_init:
      user_data: ./web.cloud-config.yaml
    ready: { ssh: true, timeout: 600s }
`

describe('a real Debian guest configured by cloud-init, ready when ssh works', () => {
  let host: TestHost
  let file: string
  let userData: string
  before(() => {
    assert.ok(
      existsSync(`${GUEST}/rootfs.qcow2`),
      'run test/fixtures/build-debian-guest.sh first (scripts/test.sh does)',
    )
    host = new TestHost()
    file = host.topology('deb.yaml', TOPOLOGY)
    userData = `${host.dir}/web.cloud-config.yaml`
    writeFileSync(userData, '#cloud-config\nhostname: alpha\n')
  })
  after(() => host.cleanup())

  // --state-dir before `--`: what follows it is the remote command.
  const ssh = (...command: string[]) =>
    kvmctl(['ssh', 'web', '-f', file, '--state-dir', host.stateDir, '--', ...command], { netns: host.netns })

  it('apply --wait returns once the guest takes an ssh login and cloud-init is done', async () => {
    const started = Date.now()
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /All VMs are ready\./)
    process.stderr.write(
      `# Debian guest ready (ssh + cloud-init done) after ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
    )
    // At once, no retry: ready means reachable.
    const hostname = await ssh('hostname')
    assert.equal(hostname.code, 0, hostname.stderr)
    assert.equal(hostname.stdout, 'alpha\n', 'the hostname set through cloud-init user data')
    const status = await ssh('cloud-init', 'status')
    assert.equal(status.stdout, 'status: done\n')
    const vm = JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout).vms[0]
    assert.deepEqual(
      [vm.state, vm.ready, vm.ips],
      ['running', true, ['10.71.0.10']],
      'status: address and readiness',
    )
  })

  it('passes the remote exit code through, and gives plain ssh a working config', async () => {
    assert.equal((await ssh('exit', '3')).code, 3)
    const config = (await host.kvmctl(['ssh-config', '-f', file])).stdout
    assert.match(config, /^Host web\.deb\n {2}HostName 10\.71\.0\.10\n {2}User debian\n/m)
    const configFile = `${host.dir}/ssh_config`
    writeFileSync(configFile, config)
    const out = execFileSync(
      'ip',
      ['netns', 'exec', host.netns, 'ssh', '-F', configFile, 'web.deb', 'uname', '-n'],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(out, 'alpha\n', 'host key checked strictly from the lab known_hosts')
  })

  it('a user data change is a restart that re-runs cloud-init, and the new setting is in effect', async () => {
    editFile(userData, 'hostname: alpha', 'hostname: beta')
    const plan = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(plan.code, 2, plan.stderr)
    assert.match(plan.stdout, /~ restart vm\/web\n {6}cloud_init {2}\(restart\)\n/)
    assert.match(plan.stdout, /- {3}hostname: alpha\n.*\+ {3}hostname: beta\n/s)
    assert.match(plan.stdout, /- {3}instance-id: kvmctl-\w+\n.*\+ {3}instance-id: kvmctl-\w+\n/s)
    assert.match(plan.stdout, /Note: vm\/web: cloud-init runs again in the guest on this restart/)
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    assert.equal((await ssh('hostname')).stdout, 'beta\n')
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
  })

  it('destroy leaves nothing of the lab, keys included', async () => {
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.equal(existsSync(`${host.stateDir}/deb`), false)
    assert.deepEqual(host.pids(), [])
  })
})
