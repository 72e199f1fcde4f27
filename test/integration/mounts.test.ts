import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { DEBIAN_GUEST, DEBIAN_IMAGE, editFile, TestHost } from '../helpers/host.js'

// Host folders in a Debian guest through virtio-9p, mounted by cloud-init from the seed's
// vendor-data: one the guest may write, one it may only read.
const TOPOLOGY = `
name: mnt
${DEBIAN_IMAGE}
networks:
  lan: { cidr: 10.89.0.0/24 }
vms:
  web:
    image: debian12
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: 10.89.0.10 }]
    mounts:
      - { source: ./src, target: /src }
      - { source: ./docs, target: /srv/docs, readonly: true }
    cloud_init: {}
    ready: { ssh: true, timeout: 600s }
`

describe('mounts: host folders shared with the guest', () => {
  let host: TestHost
  let file: string
  before(async () => {
    assert.ok(existsSync(`${DEBIAN_GUEST}/rootfs.qcow2`), 'run test/fixtures/build-debian-guest.sh first')
    host = new TestHost()
    for (const dir of ['src', 'docs']) mkdirSync(`${host.dir}/${dir}`)
    writeFileSync(`${host.dir}/src/main.c`, 'int main(void) { return 0; }\n')
    writeFileSync(`${host.dir}/docs/README`, 'read me\n')
    file = host.topology('mnt.yaml', TOPOLOGY)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
  })
  after(() => host.cleanup())

  it('the guest reads and writes a shared folder, and the host sees what it wrote', async () => {
    assert.equal(await host.sshOk(file, 'web', 'cat /src/main.c'), 'int main(void) { return 0; }')
    await host.sshOk(file, 'web', 'echo built | sudo tee /src/out.txt >/dev/null')
    assert.equal(readFileSync(`${host.dir}/src/out.txt`, 'utf8'), 'built\n')
    assert.match(await host.sshOk(file, 'web', 'findmnt -n -o FSTYPE,OPTIONS /src'), /^9p\s+rw,/)
  })

  it('a read-only folder can be read and not written', async () => {
    assert.equal(await host.sshOk(file, 'web', 'cat /srv/docs/README'), 'read me')
    const write = await host.ssh(file, 'web', 'sudo touch /srv/docs/new')
    assert.notEqual(write.code, 0)
    assert.match(write.stderr, /Read-only file system/)
    assert.equal(existsSync(`${host.dir}/docs/new`), false)
  })

  it('a change of the mounts is a restart, said in the plan; a snapshot of the VM holds its disks only', async () => {
    editFile(file, '{ source: ./src, target: /src }', '{ source: ./src, target: /src, readonly: true }')
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /~ restart vm\/web/)
    assert.match(plan.stdout, /mounts/)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const write = await host.ssh(file, 'web', 'sudo touch /src/new')
    assert.match(write.stderr, /Read-only file system/)
    const save = await host.kvmctl(['snapshot', 'save', 'with-mounts', '-f', file])
    assert.equal(save.code, 0, save.stderr)
    assert.match(save.stdout, /vm\/web: disks \(web\.boot\), it shares host folders \(mounts:\)/)
  })
})
