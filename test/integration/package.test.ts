import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type CliResult, ROOT, kvmctl as run } from '../helpers/cli.js'
import { TestHost } from '../helpers/host.js'

/** Every file under `dir` with its mode and a hash of its content. */
function fingerprintTree(dir: string): Map<string, string> {
  const files = new Map<string, string>()
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name)
      const stat = statSync(full)
      if (stat.isDirectory()) walk(full)
      else
        files.set(
          full.slice(dir.length),
          `${stat.mode.toString(8)} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`,
        )
    }
  }
  walk(dir)
  return files
}

describe('the npm package, installed as a user would', () => {
  let host: TestHost
  let prefix: string
  let tarball: string
  let installed: string
  let work: string
  before(() => {
    host = new TestHost()
    prefix = `${host.dir}/prefix`
    work = `${host.dir}/work`
    mkdirSync(work)
    // `npm test` has built the project; prepack would only build it again.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', host.dir], {
        cwd: ROOT,
        encoding: 'utf8',
      }),
    )
    tarball = `${host.dir}/${packed[0].filename}`
    execFileSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', tarball], {
      stdio: 'ignore',
    })
    installed = `${prefix}/lib/node_modules/kvmctl`
  })
  after(() => host.cleanup())

  /** The installed kvmctl, in the test's network namespace, run from a directory outside the checkout. */
  const kvmctl = (args: string[], input = '', inNetns = true): Promise<CliResult> =>
    run(args, {
      bin: `${prefix}/bin/kvmctl`,
      cwd: work,
      env: { KVMCTL_STATE_DIR: host.stateDir },
      input,
      ...(inNetns ? { netns: host.netns } : {}),
    })

  it('ships what runs, the schema, the docs and the examples, and no built guest', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean)
    for (const wanted of [
      'package/bin/run.js',
      'package/dist/bundle/kvmctl.js',
      'package/dist/topology-validator.cjs',
      'package/oclif.manifest.json',
      'package/schemas/topology.schema.json',
      'package/examples/quickstart.yaml',
      'package/guests/tiny/build.sh',
      'package/docs/topology.md',
      'package/docs/cli.md',
    ])
      assert.ok(files.includes(wanted), `${wanted} is in the tarball`)
    assert.deepEqual(
      files.filter((f) => /vmlinuz|initrd|\.qcow2|^package\/(src|test|bench)\//.test(f)),
      [],
      'no guest, no sources, no tests',
    )
    assert.ok(statSync(tarball).size < 1024 * 1024, `${statSync(tarball).size} bytes`)
  })

  it('runs init, validate, plan, apply --wait, status, console, ssh, destroy from any directory, never writing into its install directory', async () => {
    const before = fingerprintTree(installed)
    const help = await kvmctl(['--help'])
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /apply +Make the host match the topology/)
    const init = await kvmctl(['init', '--name', 'pkg'])
    assert.equal(init.code, 0, init.stderr)
    // The starter's guest, built by the command init names (cached since the host's setup), in
    // the host's own network namespace, where apt can download packages when it is not cached.
    const guest = await kvmctl(['image', 'build-tiny', './guest'], '', false)
    assert.equal(guest.code, 0, guest.stderr)
    assert.equal((await kvmctl(['validate'])).code, 0)
    const plan = await kvmctl(['plan', '--detailed-exitcode'])
    assert.equal(plan.code, 2, plan.stderr)
    assert.match(plan.stdout, /Plan: 7 to create/)
    const apply = await kvmctl(['apply', '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.match(apply.stdout, /All VMs are ready\./)
    const status = await kvmctl(['status', '--json'])
    assert.equal(status.code, 0, status.stderr)
    assert.deepEqual(
      JSON.parse(status.stdout).vms.map((v: { name: string; state: string }) => `${v.name} ${v.state}`),
      ['one running', 'two running'],
    )
    const console = await kvmctl(['console', 'one', '--timeout', '1'], 'echo kvmctl-from-the-console\n')
    assert.equal(console.code, 0, console.stderr)
    assert.match(console.stdout, /kvmctl-from-the-console/)
    const ssh = await kvmctl(['ssh', 'one'])
    assert.equal(ssh.code, 1, 'the starter has no cloud-init, so no key: a clear error, not a crash')
    assert.match(ssh.stderr, /vm\/one has no cloud_init/)
    const completion = await kvmctl(['autocomplete', 'bash'])
    assert.equal(completion.code, 0, completion.stderr)
    const destroy = await kvmctl(['destroy', '--auto-approve'])
    assert.equal(destroy.code, 0, destroy.stderr)
    assert.deepEqual(host.pids(), [])
    assert.deepEqual(fingerprintTree(installed), before, 'the install directory is unchanged')
  })
})
