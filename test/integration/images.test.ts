import assert from 'node:assert/strict'
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { kvmctl, ROOT } from '../helpers/cli.js'
import { editFile, TestHost, waitFor } from '../helpers/host.js'

const PORT = 8087
const URL = `http://127.0.0.1:${PORT}/images/disk.qcow2`

// A VM that boots the tiny guest's kernel on an overlay of a downloaded disk image. No `quiet`:
// the kernel's messages (a disk's capacity change) reach the console log.
const lab = (name: string, sha256: string) => `
name: ${name}
defaults: { memory: 128M, shutdown_timeout: 5s }
images:
  cloud:
    url: ${URL}
    sha256: "${sha256}"
    kernel: ./guest/vmlinuz
    initrd: ./guest/initrd.gz
    cmdline: console=ttyS0
vms:
  box:
    image: cloud
    disk_size: 128M
    cmdline: kv.name=box
    ready: { serial: "KVMCTL-GUEST ready", timeout: 90s }
`

describe('images: a verified download cache, online grow, readiness that never comes', () => {
  let host: TestHost
  let server: ChildProcessByStdio<null, Readable, null>
  let requests: { from: number; status: number }[] = []
  let sha256: string
  let control: string
  const cache = () => `${host.stateDir}/images`
  const qemuPids = () =>
    host.pids().filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('qemu-system')
      } catch {
        return false
      }
    })
  const log = (name: string) => readFileSync(`${host.stateDir}/${name}/vm-box/serial.log`, 'utf8')
  const pidOf = async (file: string) =>
    JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout).vms[0].pid as number

  before(async () => {
    host = new TestHost()
    const image = `${host.dir}/disk.qcow2`
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M'])
    sha256 = createHash('sha256').update(readFileSync(image)).digest('hex')
    control = `${host.dir}/server.json`
    writeFileSync(control, '{}')
    server = spawn(
      'ip',
      [
        'netns',
        'exec',
        host.netns,
        process.execPath,
        `${ROOT}dist/test/helpers/image-server.js`,
        String(PORT),
        image,
        control,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    let output = ''
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk
      requests = output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
    })
    await waitFor('the image server to listen', () => output.includes('listening'), 10_000)
  })
  after(() => {
    server?.kill('SIGKILL')
    host.cleanup()
  })

  it('refuses an image whose sha256 does not match, before any VM starts, and keeps nothing of it', async () => {
    const wrong = '0'.repeat(64)
    const file = host.topology('bad.yaml', lab('bad', wrong))
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(result.code, 1, result.stderr)
    assert.match(
      result.stderr,
      new RegExp(`image/cloud: the file at ${URL} has sha256 ${sha256}, not ${wrong}`),
    )
    assert.doesNotMatch(result.stderr, /vm\/box: creating/, 'no step ran')
    assert.deepEqual(qemuPids(), [])
    assert.deepEqual(readdirSync(cache()), [], 'no file, no partial, no lock left in the cache')
    assert.equal(existsSync(`${host.stateDir}/bad/disks`), false)
  })

  it("stops a download larger than the image's max_size, before any VM starts, and keeps nothing of it", async () => {
    const file = host.topology(
      'big.yaml',
      lab('big', sha256).replace(`sha256: "${sha256}"`, `sha256: "${sha256}"\n    max_size: 64K`),
    )
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(result.code, 1, result.stderr)
    assert.match(
      result.stderr,
      /image\/cloud: .* is larger than its max_size \(64K\); the download was stopped/,
    )
    assert.deepEqual(qemuPids(), [])
    assert.deepEqual(readdirSync(cache()), [], 'no file and no partial in the cache')
  })

  it('does not mistake a killed download for a complete one, and resumes it', async () => {
    const file = host.topology('one.yaml', lab('one', sha256))
    writeFileSync(control, JSON.stringify({ stallAfter: 65536 }))
    const before = requests.length
    const apply = host.spawn(['apply', '-f', file, '--auto-approve'])
    const partial = `${cache()}/${sha256}.partial`
    await waitFor('half a download', () => existsSync(partial) && statSync(partial).size >= 65536, 20_000)
    apply.kill('SIGKILL')
    await new Promise((resolve) => apply.once('close', resolve))
    assert.equal(existsSync(`${cache()}/${sha256}`), false, 'no complete-looking file')
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /Note: image\/cloud is downloaded first from/, 'still to download')

    writeFileSync(control, '{}')
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /image\/cloud: ready \(.* MiB in .* s, sha256 verified\)/)
    assert.deepEqual(
      requests.slice(before).map((r) => `${r.status} from ${r.from}`),
      ['200 from 0', '206 from 65536'],
      'the second apply asked only for the rest',
    )
    const cached = readFileSync(`${cache()}/${sha256}`)
    assert.equal(createHash('sha256').update(cached).digest('hex'), sha256)
    assert.equal(statSync(`${cache()}/${sha256}`).mode & 0o777, 0o444, 'read-only')
    assert.equal(existsSync(partial), false)
  })

  it('downloads once for two labs: the second uses the cache', async () => {
    const before = requests.length
    const file = host.topology('two.yaml', lab('two', sha256))
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    assert.equal(requests.length, before, 'no request to the server')
    const list = JSON.parse((await host.kvmctl(['image', 'list', '--json'])).stdout)
    assert.deepEqual(
      list.images.map((i: { digest: string; usedBy: string[] }) => [i.digest, i.usedBy.sort()]),
      [[`sha256:${sha256}`, ['one/box.boot', 'two/box.boot']]],
    )
  })

  it('grows a boot disk while its VM runs: no restart, the guest sees the new size', async () => {
    const file = `${host.dir}/one.yaml`
    const pid = await pidOf(file)
    editFile(file, 'disk_size: 128M', 'disk_size: 256M')
    const plan = JSON.parse((await host.kvmctl(['plan', '-f', file, '--json'])).stdout)
    assert.deepEqual(
      plan.actions.map((a: { action: string; address: string }) => `${a.action} ${a.address}`),
      ['update disk/box.boot'],
    )
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(result.code, 0, result.stderr)
    assert.equal(await pidOf(file), pid, 'the same QEMU process')
    // The guest kernel reports it: "vda: detected capacity change from 262144 to 524288" (sectors).
    await waitFor(
      'the guest to see 256M',
      () => /vda: detected capacity change from \d+ to 524288/.test(log('one')),
      10_000,
    )
  })

  it('prunes only images no disk uses', async () => {
    assert.equal((await host.kvmctl(['destroy', '-f', `${host.dir}/two.yaml`, '--auto-approve'])).code, 0)
    let pruned = await host.kvmctl(['image', 'prune'])
    assert.match(pruned.stdout, /^0 file\(s\) removed\.$/m, 'lab one still uses it')
    assert.equal((await host.kvmctl(['destroy', '-f', `${host.dir}/one.yaml`, '--auto-approve'])).code, 0)
    pruned = await host.kvmctl(['image', 'prune'])
    assert.match(pruned.stdout, new RegExp(`removed .*/images/${sha256}\\n1 file\\(s\\) removed\\.`))
    assert.deepEqual(readdirSync(cache()), [])
  })

  it('sha512, and a SHA512SUMS file as distributions publish them: verified and cached once; a wrong digest or a missing entry stops before any step', async () => {
    const image = `${host.dir}/disk.qcow2`
    const sha512 = createHash('sha512').update(readFileSync(image)).digest('hex')
    // A stopped VM: its boot disk is made on the image, nothing boots.
    const stopped = (name: string, verify: string) => `
name: ${name}
images:
  cloud:
    url: ${URL}
    ${verify}
    kernel: ./guest/vmlinuz
vms:
  box: { image: cloud, memory: 64M, state: stopped }
`
    const sums = `${host.dir}/SHA512SUMS`
    writeFileSync(sums, `${'1'.repeat(128)}  other.qcow2\n${sha512} *disk.qcow2\n`)
    writeFileSync(`${host.dir}/EMPTY`, `${'1'.repeat(128)}  other.qcow2\n`)
    writeFileSync(
      control,
      JSON.stringify({ files: { '/sums/SHA512SUMS': sums, '/empty/SHA512SUMS': `${host.dir}/EMPTY` } }),
    )
    const direct = host.topology('s512.yaml', stopped('s512', `sha512: "${sha512}"`))
    const first = await host.kvmctl(['apply', '-f', direct, '--auto-approve'])
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stderr, /image\/cloud: ready \(.* MiB in .* s, sha512 verified\)/)
    assert.deepEqual(readdirSync(cache()), [sha512])

    const before = requests.filter((r) => (r as { url?: string }).url === '/images/disk.qcow2').length
    const listed = host.topology(
      'sums.yaml',
      stopped('sums', `checksums: "http://127.0.0.1:${PORT}/sums/SHA512SUMS"`),
    )
    const plan = await host.kvmctl(['plan', '-f', listed])
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(plan.stdout, new RegExp(`backing_file\\n +\\S*/images/${sha512}\\n`))
    assert.equal((await host.kvmctl(['apply', '-f', listed, '--auto-approve'])).code, 0)
    assert.equal(
      requests.filter((r) => (r as { url?: string }).url === '/images/disk.qcow2').length,
      before,
      'the image is downloaded once',
    )

    const wrong = host.topology('wrong.yaml', stopped('wrong', `sha512: "${'0'.repeat(128)}"`))
    const refused = await host.kvmctl(['apply', '-f', wrong, '--auto-approve'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, new RegExp(`has sha512 ${sha512}, not ${'0'.repeat(128)}`))
    assert.doesNotMatch(refused.stderr, /vm\/box: creating/, 'no step ran')
    const missing = host.topology(
      'missing.yaml',
      stopped('missing', `checksums: "http://127.0.0.1:${PORT}/empty/SHA512SUMS"`),
    )
    for (const command of [['plan'], ['apply', '--auto-approve']]) {
      const run = await host.kvmctl([...command, '-f', missing])
      assert.equal(run.code, 1)
      assert.match(run.stderr, /image\/cloud: .*\/empty\/SHA512SUMS has no entry for disk\.qcow2/)
    }
    assert.deepEqual(readdirSync(cache()), [sha512], 'nothing else entered the cache')
    for (const file of [direct, listed])
      assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.equal((await host.kvmctl(['image', 'prune'])).code, 0)
    writeFileSync(control, '{}')
  })

  it('a download that stalls fails after the idle timeout, keeps its part, and the next pull resumes it', async () => {
    writeFileSync(control, JSON.stringify({ stallAfter: 65536 }))
    const before = requests.length
    const pull = (env: Record<string, string> = {}) =>
      kvmctl(['image', 'pull', '-f', `${host.dir}/one.yaml`, '--state-dir', host.stateDir], {
        netns: host.netns,
        env,
      })
    const stalled = await pull({ KVMCTL_DOWNLOAD_IDLE_SECONDS: '2' })
    assert.equal(stalled.code, 1)
    assert.match(stalled.stderr, /downloading .* failed after 65536 bytes: the server sent nothing for 2 s/)
    assert.equal(statSync(`${cache()}/${sha256}.partial`).size, 65536)
    writeFileSync(control, '{}')
    assert.equal((await pull()).code, 0)
    assert.deepEqual(
      requests.slice(before).map((r) => `${r.status} from ${r.from}`),
      ['200 from 0', '206 from 65536'],
    )
    assert.match((await host.kvmctl(['image', 'prune'])).stdout, /^1 file\(s\) removed\.$/m, 'unused again')
  })

  it('two jobs pulling the same image at once download it once (the second waits for the first)', async () => {
    writeFileSync(control, JSON.stringify({ delayMs: 1500 }))
    const before = requests.length
    const file = `${host.dir}/one.yaml`
    const pulls = await Promise.all([1, 2].map(() => host.kvmctl(['image', 'pull', '-f', file])))
    writeFileSync(control, '{}')
    for (const pull of pulls) assert.equal(pull.code, 0, pull.stderr)
    assert.equal(requests.length - before, 1, 'one request to the server')
    const waited = pulls.map((p) => p.stderr.includes('ready (downloaded meanwhile by another kvmctl)'))
    assert.deepEqual(waited.sort(), [false, true], 'one downloaded it, the other found it done')
    assert.deepEqual(readdirSync(cache()), [sha256])
  })

  it('fails after the timeout of a ready that never comes, naming the VM and probe, with the console', async () => {
    const file = host.topology(
      'late.yaml',
      `
name: late
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
vms:
  slow:
    image: tiny
    memory: 128M
    cmdline: kv.name=slow
    ready: { serial: "NEVER-PRINTED", timeout: 20s }
`,
    )
    const started = Date.now()
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 1)
    assert.ok(Date.now() - started >= 20_000, 'it waited the whole timeout')
    assert.match(result.stderr, /vm\/slow was not ready after 20s: waited for serial \/NEVER-PRINTED\//)
    assert.match(
      result.stderr,
      /last console lines of vm\/slow:\n( {2}\| .*\n)* {2}\| KVMCTL-GUEST ready name=slow/,
    )
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })
})
