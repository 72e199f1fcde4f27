import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { BIN, kvmctl } from '../helpers/cli.js'
import { editFile, TestHost, waitFor } from '../helpers/host.js'

// Each test here was a way to turn kvmctl, running as root, against the host or against data
// the plan never announced; each reproduces it on a real host and checks it is refused or safe.

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

const DISK_LAB = `
name: vault
disks:
  data: { size: 64M, protect: true }
`

const VM_LAB = (name: string, subnet: number) => `
name: ${name}
defaults: { memory: 128M, shutdown_timeout: 2s }
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
networks:
  lan: { cidr: 10.${subnet}.0.0/24 }
vms:
  a:
    image: tiny
    cmdline: kv.name=a
    nics: [{ network: lan, ip: 10.${subnet}.0.10 }]
`

describe('hardening: records, symlinks, ownership, saved plans, file references, output', () => {
  let host: TestHost
  before(() => {
    host = new TestHost()
  })
  after(() => host.cleanup())

  it('keeps a protected disk, byte for byte, when its record is deleted or cut short', async () => {
    const file = host.topology('vault.yaml', DISK_LAB)
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const disk = `${host.stateDir}/vault/disks/data.qcow2`
    const record = `${host.stateDir}/vault/disks/data.json`
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 1M', disk], { stdio: 'ignore' })
    const bytes = sha256(disk)
    const damages = [
      () => rmSync(record),
      () => writeFileSync(record, '{"address": "disk/da'),
      // A record of the wrong shape (it crashed kvmctl before: address.indexOf is not a function).
      () => writeFileSync(record, '{"address": 5, "format": "qcow2", "protect": "yes", "image": null}'),
    ]
    for (const damage of damages) {
      damage()
      const plan = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
      assert.equal(plan.code, 2, plan.stderr)
      assert.doesNotMatch(plan.stdout, /create disk\/data/)
      assert.match(plan.stdout, /~ update in-place disk\/data\n\s+protect\s+\(none\) → true/)
      assert.match(plan.stdout, /Note: disk\/data: its record .*data\.json (is missing|is damaged)/)
      const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
      assert.equal(apply.code, 0, apply.stderr)
      assert.equal(sha256(disk), bytes, 'the disk is the same file, its data untouched')
      assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
    }
    // A disk file without its record that is not the disk the topology asks for is a conflict.
    rmSync(record)
    editFile(file, 'size: 64M, protect: true', 'size: 64M, protect: true, format: raw')
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.equal(plan.code, 1)
    assert.match(
      plan.stderr,
      /data\.qcow2 exists but its record .* is missing, and it is not the disk the topology asks for/,
    )
    assert.equal(sha256(disk), bytes)
    editFile(file, 'protect: true, format: raw', 'protect: false')
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  it('never deletes a file outside the state directory that a record names', async () => {
    const file = host.topology('outside.yaml', 'name: outside\ndisks:\n  scratch: { size: 16M }\n')
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const victim = `${host.dir}/victim`
    writeFileSync(victim, 'precious\n')
    const record = `${host.stateDir}/outside/disks/scratch.json`
    const text = JSON.parse(readFileSync(record, 'utf8'))
    writeFileSync(record, JSON.stringify({ ...text, path: victim }))
    assert.equal(
      (await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code,
      0,
      'a path in a record is no change',
    )
    const destroy = await host.kvmctl(['destroy', '-f', file, '--auto-approve'])
    assert.equal(destroy.code, 0, destroy.stderr)
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n')
    assert.equal(existsSync(`${host.stateDir}/outside`), false, "the lab's own disk went")
  })

  it('finds a VM by its process when its record is cut short or its directory is gone: apply restarts it, destroy stops it', async () => {
    const file = host.topology('spec.yaml', VM_LAB('spec', 61))
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const spec = `${host.stateDir}/spec/vm-a/spec.json`
    const pid = () => Number(readFileSync(`${host.stateDir}/spec/vm-a/qemu.pid`, 'utf8'))
    const first = pid()
    writeFileSync(spec, '{"address": "vm/a", "fie')
    const status = await host.kvmctl(['status', '-f', file, '--json'])
    assert.equal(JSON.parse(status.stdout).vms[0].state, 'running', status.stderr)
    const plan = JSON.parse((await host.kvmctl(['plan', '-f', file, '--json'])).stdout)
    assert.deepEqual(
      plan.actions.map((a: { address: string; action: string }) => `${a.action} ${a.address}`),
      ['replace vm/a'],
    )
    assert.ok(plan.notes.some((n: string) => /vm\/a: its record .*spec\.json is damaged/.test(n)))
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.ok(!host.pids().includes(first), 'the old QEMU is gone')
    assert.equal(host.pids().length, 1, 'one QEMU, not two')
    // The whole VM directory gone: destroy still finds the QEMU by its command line.
    const second = pid()
    rmSync(`${host.stateDir}/spec/vm-a`, { recursive: true })
    const destroy = await host.kvmctl(['destroy', '-f', file, '--auto-approve'])
    assert.equal(destroy.code, 0, destroy.stderr)
    await waitFor('the QEMU to end', () => !host.pids().includes(second), 10_000)
    assert.deepEqual(host.pids(), [])
  })

  it('refuses every symbolic link planted in the state directory, and leaves its target alone', async () => {
    const file = host.topology('links.yaml', VM_LAB('links', 62))
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const target = `${host.dir}/target`
    for (const place of ['vm-a/serial.log', 'disks/a.boot.qcow2.partial']) {
      writeFileSync(target, 'untouched\n')
      const path = `${host.stateDir}/links/${place}`
      rmSync(path, { force: true })
      symlinkSync(target, path)
      for (const command of [['plan'], ['apply', '--auto-approve'], ['status']]) {
        const run = await host.kvmctl([...command, '-f', file])
        assert.equal(run.code, 1, `${command[0]} with ${place} a link`)
        assert.match(run.stderr, new RegExp(`${place.replaceAll('.', '\\.')} is a symbolic link`))
      }
      assert.equal(readFileSync(target, 'utf8'), 'untouched\n')
      rmSync(path)
    }
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    // A lab directory that is a link: destroy removes nothing in the directory it points to.
    const elsewhere = `${host.dir}/elsewhere`
    mkdirSync(elsewhere)
    writeFileSync(`${elsewhere}/lab.json`, '{}')
    symlinkSync(elsewhere, `${host.stateDir}/links`)
    const destroy = await host.kvmctl(['destroy', '--lab', 'links', '--auto-approve'])
    assert.equal(destroy.code, 1)
    assert.match(destroy.stderr, /links is a symbolic link/)
    assert.deepEqual(readdirSync(elsewhere), ['lab.json'])
    rmSync(`${host.stateDir}/links`)
  })

  it('refuses a state directory another user owns, or that group or others may write', async () => {
    const file = host.topology('strict.yaml', 'name: strict\ndisks:\n  d: { size: 16M }\n')
    const state = `${host.dir}/foreign`
    mkdirSync(`${state}/strict/ssh`, { recursive: true, mode: 0o700 })
    // An unprivileged user's own key pair, put there for root to give to the guests.
    chownSync(`${state}/strict/ssh`, 65534, 65534)
    const run = (args: string[]) => kvmctl([...args, '--state-dir', state], { netns: host.netns })
    const owned = await run(['plan', '-f', file])
    assert.equal(owned.code, 1)
    assert.match(owned.stderr, /strict\/ssh belongs to user 65534, not to the user running kvmctl/)
    chownSync(`${state}/strict/ssh`, 0, 0)
    chmodSync(state, 0o777)
    const open = await run(['apply', '-f', file, '--auto-approve'])
    assert.equal(open.code, 1)
    assert.match(open.stderr, /foreign may be written by its group \(mode 777\)/)
    assert.equal(existsSync(`${state}/strict/disks`), false, 'nothing was made')
    rmSync(state, { recursive: true })
  })

  it('refuses a lab name that another state directory holds on this host, naming it', async () => {
    const file = host.topology('twin.yaml', VM_LAB('twin', 63))
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const other = `${host.dir}/o`
    const run = (args: string[]) => kvmctl([...args, '--state-dir', other], { netns: host.netns })
    const plan = await run(['plan', '-f', file])
    assert.equal(plan.code, 1)
    assert.match(
      plan.stderr,
      new RegExp(`the lab name "twin" is taken on this host by state directory ${host.stateDir}`),
    )
    // Its destroy finds nothing of its own and touches nothing of the first lab's.
    assert.equal((await run(['destroy', '--lab', 'twin', '--auto-approve'])).code, 0)
    assert.ok(host.link('twin', 'network/lan'), 'the first lab keeps its bridge')
    assert.equal(host.pids().length, 1, 'and its VM')
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  it('refuses a saved plan that was edited, and deletes nothing it names', async () => {
    const file = host.topology('saved.yaml', 'name: saved\ndisks:\n  d: { size: 16M }\n')
    const out = `${host.dir}/saved.plan`
    assert.equal((await host.kvmctl(['plan', '-f', file, '--out', out])).code, 0)
    const victim = `${host.dir}/victim2`
    writeFileSync(victim, 'precious\n')
    const plan = JSON.parse(readFileSync(out, 'utf8'))
    plan.actions[0].action = 'delete'
    plan.actions[0].current = {
      ...plan.actions[0].desired,
      handle: { path: victim, format: 'qcow2' },
      fields: {},
    }
    writeFileSync(out, JSON.stringify(plan))
    const apply = await host.kvmctl(['apply', out, '-f', file, '--auto-approve'])
    assert.equal(apply.code, 1)
    assert.match(
      apply.stderr,
      /is not the plan kvmctl makes from this topology and this host \(was it edited\?\)/,
    )
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n')
    assert.equal(existsSync(`${host.stateDir}/saved`), false, 'nothing was made either')
  })

  it('reads the files a topology names as the user who ran sudo, and prints none of a refused one', async () => {
    const file = host.topology(
      'shadow.yaml',
      `name: shadow
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz }
vms:
  a: { image: tiny, cloud_init: { user_data: /etc/shadow } }
`,
    )
    const env = { SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' }
    for (const command of ['validate', 'plan']) {
      const run = await kvmctl([command, '-f', file, '--state-dir', host.stateDir], {
        netns: host.netns,
        env,
      })
      assert.equal(run.code, 1)
      assert.match(
        run.stderr,
        /shadow\.yaml:5:\d+: vms\.a\.cloud_init\.user_data: the user data file \/etc\/shadow cannot be read by user nobody/,
      )
      assert.doesNotMatch(run.stdout + run.stderr, /root:/, 'nothing of the file')
    }
    const kernel = host.topology(
      'kernel.yaml',
      'name: kernel\nimages:\n  k: { kernel: /etc/shadow }\nvms:\n  a: { image: k }\n',
    )
    const plan = await kvmctl(['plan', '-f', kernel, '--state-dir', host.stateDir], {
      netns: host.netns,
      env,
    })
    assert.equal(plan.code, 1)
    assert.match(plan.stderr, /image\/k: kernel \/etc\/shadow cannot be read by user nobody/)
  })

  it('refuses file:///dev/zero and any url that is not a regular file, before any step', async () => {
    const file = host.topology(
      'zero.yaml',
      `name: zero
images:
  z: { url: "file:///dev/zero", sha256: "${'0'.repeat(64)}" }
vms:
  a: { image: z }
`,
    )
    for (const command of [['plan'], ['apply', '--auto-approve']]) {
      const run = await host.kvmctl([...command, '-f', file])
      assert.equal(run.code, 1)
      assert.match(run.stderr, /image\/z: url file:\/\/\/dev\/zero is not a regular file/)
    }
    assert.equal(existsSync(`${host.stateDir}/images`), false, 'nothing was downloaded')
  })

  it('refuses a cidr that overlaps an address or a route the host has, naming the interface', async () => {
    host.ip('link', 'add', 'br-host', 'type', 'bridge')
    host.ip('addr', 'add', '10.64.0.1/16', 'dev', 'br-host')
    host.ip('link', 'set', 'br-host', 'up')
    try {
      const file = host.topology('overlap.yaml', 'name: overlap\nnetworks:\n  lan: { cidr: 10.64.5.0/24 }\n')
      const plan = await host.kvmctl(['plan', '-f', file])
      assert.equal(plan.code, 1)
      assert.match(
        plan.stderr,
        /network\/lan: cidr 10\.64\.5\.0\/24 overlaps the address 10\.64\.0\.1\/16 of br-host/,
      )
    } finally {
      host.ip('link', 'del', 'br-host')
    }
  })

  it('prints control characters from the topology escaped', async () => {
    const file = host.topology('escape.yaml', 'name: escape\n"bad\\e]0;pwned\\u0007key": 1\n')
    const run = await host.kvmctl(['validate', '-f', file])
    assert.equal(run.code, 1)
    assert.match(run.stderr, /unknown key "bad\\u001b\]0;pwned\\u0007key"/)
    assert.doesNotMatch(run.stderr, /\u001b|\u0007/)
  })

  it('keeps secrets of the user data out of every output, and still shows that they changed', async () => {
    const text = (password: string) => `
name: secret
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet }
vms:
  a:
    image: tiny
    memory: 128M
    shutdown_timeout: 1s
    cloud_init:
      sensitive: [runcmd]
      user_data:
        password: ${password}
        chpasswd: { list: "root:${password}-chpasswd" }
        users: [{ name: ops, plain_text_passwd: ${password}-users }]
        write_files: [{ path: /etc/key, permissions: "0600", content: ${password}-file }]
        runcmd: [echo ${password}-runcmd]
        hostname: visible-host
`
    const file = host.topology('secret.yaml', text('hunter2'))
    const outputs: string[] = []
    const run = async (args: string[]) => {
      const result = await host.kvmctl([...args, '-f', file])
      outputs.push(result.stdout, result.stderr)
      return result
    }
    const saved = `${host.dir}/secret.plan`
    await run(['plan'])
    await run(['plan', '--json'])
    await run(['plan', '--out', saved])
    outputs.push(readFileSync(saved, 'utf8'))
    assert.equal((await run(['apply', saved, '--auto-approve'])).code, 0)
    host.topology('secret.yaml', text('swordfish'))
    const changed = await run(['plan'])
    assert.match(changed.stdout, /# sensitive values changed/)
    await run(['plan', '--json'])
    await run(['status', '--json'])
    await run(['status'])
    await run(['apply', '--auto-approve', '--json'])
    const all = outputs.join('\n')
    for (const secret of ['hunter2', 'swordfish'])
      assert.ok(!all.includes(secret), `${secret} is printed somewhere`)
    assert.match(all, /password: \(sensitive\)/)
    assert.match(all, /visible-host/, 'what is not secret is shown')
    const shown = await host.kvmctl(['plan', '-f', file, '--show-sensitive', '--target', 'vm/a'])
    assert.equal(shown.code, 0)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })

  it('refuses at validate a kernel command line longer than Linux takes, and ready.ssh without cloud-init', async () => {
    const file = host.topology(
      'limits.yaml',
      `name: limits
images:
  tiny: { kernel: ./guest/vmlinuz }
vms:
  a: { image: tiny, cmdline: "${'x'.repeat(3000)}" }
  b: { image: tiny, ready: { ssh: true } }
`,
    )
    const run = await host.kvmctl(['validate', '-f', file])
    assert.equal(run.code, 1)
    assert.match(
      run.stderr,
      /limits\.yaml:5:\d+: vms\.a\.cmdline: the kernel command line would be 3000 bytes/,
    )
    assert.match(
      run.stderr,
      /limits\.yaml:6:\d+: vms\.b\.ready\.ssh: ready\.ssh logs in with the lab's SSH key/,
    )
  })

  it("refuses an external network that names another lab's bridge", async () => {
    const first = host.topology('owner.yaml', 'name: owner\nnetworks:\n  lan: { cidr: 10.65.0.0/24 }\n')
    assert.equal((await host.kvmctl(['apply', '-f', first, '--auto-approve'])).code, 0)
    const bridge = host.link('owner', 'network/lan')!.ifname
    const file = host.topology('thief.yaml', `name: thief\nnetworks:\n  up: { external: ${bridge} }\n`)
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.equal(plan.code, 1)
    assert.match(plan.stderr, new RegExp(`external "${bridge}" is a bridge kvmctl made for lab "owner"`))
    assert.equal((await host.kvmctl(['destroy', '-f', first, '--auto-approve'])).code, 0)
  })

  it("keeps dnsmasq's files the owner's alone, and says what is wrong with a read-only state directory", async () => {
    const file = host.topology(
      'modes.yaml',
      'name: modes\nnetworks:\n  lan: { cidr: 10.66.0.0/24, dhcp: true }\n',
    )
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    for (const name of ['leases', 'dnsmasq.pid', 'dnsmasq.log', 'dnsmasq.conf']) {
      const mode = statSync(`${host.stateDir}/modes/net-lan/${name}`).mode & 0o777
      assert.equal(mode, 0o600, `${name} is ${mode.toString(8)}`)
    }
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    const ro = host.topology('ro.yaml', 'name: ro\ndisks:\n  d: { size: 16M }\n')
    mkdirSync(host.stateDir, { recursive: true })
    // The state directory read-only in a mount namespace of this command alone.
    const script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    const result = spawnSync(
      'unshare',
      [
        '--mount',
        'sh',
        '-c',
        script,
        host.stateDir,
        'ip',
        'netns',
        'exec',
        host.netns,
        BIN,
        'apply',
        '-f',
        ro,
        '--state-dir',
        host.stateDir,
        '--auto-approve',
      ],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    )
    assert.equal(result.status, 1, result.stderr)
    assert.match(result.stderr, /cannot write .*ro.*: the file system is read-only \(EROFS\)/)
    assert.match(
      result.stderr,
      /Hint: remount it read-write, or pass a --state-dir on a writable file system/,
    )
  })
})
