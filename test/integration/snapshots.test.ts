import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { DEBIAN_GUEST, DEBIAN_IMAGE, editFile, TestHost } from '../helpers/host.js'

// A Debian guest with a data disk: saved while it runs, changed, and brought back, from memory
// (the same running guest, at the moment of the save) or from its disks (a reboot).
const TOPOLOGY = `
name: sn
${DEBIAN_IMAGE}
networks:
  lan: { cidr: 10.86.0.0/24 }
disks:
  data: { size: 256M, protect: false }
vms:
  web:
    image: debian12
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: 10.86.0.10 }]
    disks: [data]
    cloud_init: {}
    ready: { ssh: true, timeout: 600s }
`

describe('snapshots: a running guest saved and restored', () => {
  let host: TestHost
  let file: string
  before(async () => {
    assert.ok(existsSync(`${DEBIAN_GUEST}/rootfs.qcow2`), 'run test/fixtures/build-debian-guest.sh first')
    host = new TestHost()
    file = host.topology('sn.yaml', TOPOLOGY)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
  })
  after(() => host.cleanup())

  const uptime = async () => Number((await host.sshOk(file, 'web', 'cut -d" " -f1 /proc/uptime')).trim())
  const snapshot = (...args: string[]) => host.kvmctl(['snapshot', ...args, '-f', file])
  const tags = (disk: string) =>
    execFileSync('qemu-img', ['snapshot', '-l', '-U', `${host.stateDir}/sn/disks/${disk}.qcow2`], {
      encoding: 'utf8',
    })

  it('restores from memory: the guest goes on from the save, without a boot; what was written after is gone, ssh answers at once', async () => {
    // tmpfs lives in memory only: a file there after the restore can only come from the saved memory.
    await host.sshOk(file, 'web', 'echo saved > /dev/shm/before-save')
    const bootId = await host.sshOk(file, 'web', 'cat /proc/sys/kernel/random/boot_id')
    const before = await uptime()
    const save = await snapshot('save', 'base')
    assert.equal(save.code, 0, save.stderr)
    assert.match(save.stdout, /vm\/web: memory and disks \(web\.boot, data\)/)
    await host.sshOk(
      file,
      'web',
      'echo changed > /dev/shm/after-save && echo changed | sudo tee /var/tmp/after-save >/dev/null && sync',
    )

    const restore = await snapshot('restore', 'base', '--auto-approve')
    assert.equal(restore.code, 0, restore.stderr)
    assert.match(restore.stdout, /<- restore vm\/web \(snapshot base\)/)
    assert.match(
      restore.stdout,
      /memory, devices and disks \(web\.boot, data\): the guest goes on from the save/,
    )
    // No wait and no retry: the guest's sshd is running as it was at the save.
    const seen = await host.sshOk(
      file,
      'web',
      'cat /proc/sys/kernel/random/boot_id; ls /dev/shm; test -e /var/tmp/after-save && echo disk:there || echo disk:gone',
    )
    assert.deepEqual(seen.split('\n'), [bootId, 'before-save', 'disk:gone'])
    // The same boot: its uptime did not start again (under TCG the guest's clock also counts the
    // time since the save; under KVM, kvmclock takes it back to the save).
    assert.ok((await uptime()) >= before, 'no reboot')

    const list = JSON.parse((await snapshot('list', '--json')).stdout) as {
      snapshots: { name: string; created: string; vms: unknown[] }[]
    }
    assert.deepEqual(list.snapshots, [
      {
        name: 'base',
        created: list.snapshots[0]!.created,
        vms: [{ vm: 'web', state: 'running', memory: true, disks: ['web.boot', 'data'], complete: true }],
      },
    ])
    assert.match((await host.kvmctl(['status', '-f', file])).stdout, /base\s+\S+ \S+\s+web\s+memory \+ disks/)
  })

  it('restores disks only (--disk-only): the guest boots again, and what was written after the save is gone', async () => {
    // A disk-only save of a running guest is crash-consistent: what the guest has not written
    // out yet is not on its disks. Right after the memory restore above, that can be the ssh
    // host keys cloud-init wrote (restored as empty files, sshd would not start): sync first.
    await host.sshOk(file, 'web', 'sync')
    assert.equal((await snapshot('save', 'cold', '--disk-only')).code, 0)
    await host.sshOk(file, 'web', 'echo changed | sudo tee /var/tmp/after-cold >/dev/null && sync')
    const bootId = await host.sshOk(file, 'web', 'cat /proc/sys/kernel/random/boot_id')
    const restore = await snapshot('restore', 'cold', '--auto-approve', '--wait')
    assert.equal(restore.code, 0, restore.stderr)
    assert.match(restore.stdout, /disks rolled back \(web\.boot, data\); the VM boots from them/)
    assert.equal(
      await host.sshOk(file, 'web', 'test -e /var/tmp/after-cold && echo there || echo gone'),
      'gone',
    )
    assert.notEqual(
      await host.sshOk(file, 'web', 'cat /proc/sys/kernel/random/boot_id'),
      bootId,
      'a new boot',
    )
  })

  it('refuses to roll back a protected disk, changing nothing', async () => {
    editFile(file, 'protect: false', 'protect: true')
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    await host.sshOk(file, 'web', 'echo kept | sudo tee /var/tmp/kept >/dev/null')
    const restore = await snapshot('restore', 'base', '--auto-approve')
    assert.equal(restore.code, 1)
    assert.match(
      restore.stderr,
      /would roll back disk\/data, which is protected \(protect: true\); nothing was changed/,
    )
    assert.equal(await host.sshOk(file, 'web', 'cat /var/tmp/kept'), 'kept')
  })

  it('delete removes a snapshot from the disks; destroy removes every snapshot', async () => {
    assert.match(tags('web.boot'), /kvmctl-cold/)
    assert.equal((await snapshot('delete', 'cold', '--auto-approve')).code, 0)
    assert.doesNotMatch(tags('web.boot'), /kvmctl-cold/)
    assert.doesNotMatch(tags('data'), /kvmctl-cold/)
    assert.match(tags('data'), /kvmctl-base/)
    editFile(file, 'protect: true', 'protect: false')
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve'])).code, 0)
    const destroy = await host.kvmctl(['destroy', '-f', file, '--auto-approve'])
    assert.equal(destroy.code, 0, destroy.stderr)
    assert.equal(existsSync(`${host.stateDir}/sn`), false, 'no disk, no snapshot record is left')
  })
})
