import assert from 'node:assert/strict'
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { BIN, kvmctl } from '../helpers/cli.js'
import { editFile, guestLine, TestHost, waitFor } from '../helpers/host.js'

// A tiny guest booted through the host's OVMF (UEFI, machine q35), its kernel loaded by the
// firmware: the guest sees EFI, the VM keeps its own NVRAM across restarts, and loses it when it
// goes back to bios, as the plan says.
const LAB = `
name: efi
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet, firmware: uefi }
vms:
  u:
    image: tiny
    memory: 256M
    shutdown_timeout: 2s
    cmdline: kv.name=u
    ready: { serial: "KVMCTL-GUEST ready", timeout: 180s }
`

describe('firmware: uefi', () => {
  let host: TestHost
  before(() => {
    host = new TestHost()
  })
  after(() => host.cleanup())

  const nvram = () => `${host.stateDir}/efi/vm-u/OVMF_VARS.fd`
  const log = () => readFileSync(`${host.stateDir}/efi/vm-u/serial.log`, 'utf8')
  const cmdline = () => {
    const pid = Number(readFileSync(`${host.stateDir}/efi/vm-u/qemu.pid`, 'utf8'))
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  }

  it('boots through OVMF on q35 with an NVRAM of its own, kept across a restart, removed with bios', async () => {
    const file = host.topology('efi.yaml', LAB)
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(plan.stdout, /firmware +uefi/)
    assert.match(plan.stdout, /machine +q35/)
    assert.match(
      plan.stdout,
      /Note: vm\/u: UEFI \(the host's OVMF\) on machine q35, with an NVRAM of its own/,
    )
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.equal(guestLine(log(), 'ready')!.efi, 'yes', 'the guest sees EFI')
    assert.ok(cmdline().includes('q35'))
    assert.equal(statSync(nvram()).mode & 0o777, 0o600)
    const inode = statSync(nvram()).ino
    const status = JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout)
    assert.deepEqual([status.vms[0].firmware, status.vms[0].nvram], ['uefi', nvram()])

    editFile(file, 'memory: 256M', 'memory: 320M')
    const restart = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(restart.code, 0, restart.stderr)
    assert.equal(statSync(nvram()).ino, inode, 'the same NVRAM after the restart')

    editFile(file, 'firmware: uefi', 'firmware: bios')
    const bios = await host.kvmctl(['plan', '-f', file])
    assert.match(bios.stdout, /~ restart vm\/u/)
    assert.match(bios.stdout, /firmware +uefi → bios +\(restart\)/)
    assert.match(bios.stdout, /its NVRAM .* is removed on this restart/)
    const applied = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(applied.code, 0, applied.stderr)
    await waitFor('the bios boot', () => guestLine(log(), 'ready')?.efi === 'no', 60_000)
    assert.equal(existsSync(nvram()), false)
    assert.ok(cmdline().includes('pc'))
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.equal(existsSync(`${host.stateDir}/efi`), false, 'nothing of the lab is left')
  })
})

describe('tpm: true', () => {
  let host: TestHost
  before(() => {
    host = new TestHost()
  })
  after(() => host.cleanup())

  it("runs a swtpm of the VM's own, which apply starts again when it died, and destroy leaves none", async () => {
    const file = host.topology(
      'tpm.yaml',
      LAB.replace('name: efi', 'name: tpm').replace('firmware: uefi }', 'tpm: true }'),
    )
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])).code, 0)
    const status = async () => JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout).vms[0]
    const state = `${host.stateDir}/tpm/vm-u/tpm2.state`
    assert.deepEqual((await status()).tpm, { running: true, state })
    const qemu = Number(readFileSync(`${host.stateDir}/tpm/vm-u/qemu.pid`, 'utf8'))
    const swtpm = Number(readFileSync(`${host.stateDir}/tpm/vm-u/swtpm.pid`, 'utf8'))
    assert.ok(readFileSync(`/proc/${qemu}/cmdline`, 'utf8').includes('emulator,id=tpm0,chardev=tpm0-chardev'))

    process.kill(swtpm, 'SIGKILL')
    await waitFor(
      'swtpm to end',
      () =>
        !existsSync(`/proc/${swtpm}/cmdline`) || readFileSync(`/proc/${swtpm}/stat`, 'utf8').includes(') Z '),
      5000,
    )
    const plan = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(plan.code, 2, plan.stderr)
    assert.match(plan.stdout, /~ restart vm\/u\n/)
    assert.match(plan.stdout, /tpm +false → true +\(restart\)/)
    assert.match(plan.stdout, /vm\/u: its swtpm .* is not running: the guest has no TPM until it restarts/)
    assert.equal((await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])).code, 0)
    assert.deepEqual((await status()).tpm, { running: true, state })
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)

    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.deepEqual(host.pids(), [], 'no QEMU, no swtpm')
    assert.equal(existsSync(`${host.stateDir}/tpm`), false)
  })
})

describe('a host without ovmf and swtpm', () => {
  let host: TestHost
  let bare: string
  before(() => {
    host = new TestHost()
    // kvmctl in a mount namespace of its own where the packages' files are not there: OVMF's
    // directory is empty, and swtpm is /dev/null (no execute bit, so not a program).
    bare = `${host.dir}/bare-host`
    writeFileSync(
      bare,
      `#!/bin/sh\nexec unshare --mount --propagation private sh -c 'mount -t tmpfs none /usr/share/OVMF && mount --bind /dev/null /usr/bin/swtpm && exec "$0" "$@"' ${BIN} "$@"\n`,
    )
    chmodSync(bare, 0o755)
  })
  after(() => host.cleanup())
  const run = (args: string[]) =>
    kvmctl([...args, '--state-dir', host.stateDir], { netns: host.netns, bin: bare })

  it('doctor names the package of each, as a warning', async () => {
    const doctor = await run(['doctor'])
    assert.match(
      doctor.stdout,
      /! OVMF \(uefi, secure_boot\) +\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd, .* missing.*\n.*fix: apt-get install ovmf/,
    )
    assert.match(doctor.stdout, /! swtpm \(tpm: true\) +swtpm not found\n.*fix: apt-get install swtpm/)
  })

  it('the plan of a uefi VM with a TPM fails before any step, naming the missing file and program', async () => {
    const file = host.topology(
      'bare.yaml',
      LAB.replace('name: efi', 'name: bare').replace('firmware: uefi }', 'firmware: uefi, tpm: true }'),
    )
    for (const command of ['plan', 'apply']) {
      const result = await run([command, '-f', file, ...(command === 'apply' ? ['--auto-approve'] : [])])
      assert.equal(result.code, 1, result.stderr)
      assert.match(
        result.stderr,
        /vm\/u: firmware: uefi needs \/usr\/share\/OVMF\/OVMF_CODE_4M\.fd, which this host does not have; install it \(apt-get install ovmf\)/,
      )
      assert.match(
        result.stderr,
        /vm\/u: tpm: true needs swtpm, which this host does not have; install it \(apt-get install swtpm\)/,
      )
    }
    assert.equal(existsSync(`${host.stateDir}/bare`), false, 'nothing of the lab was made')
    assert.deepEqual(
      host.links().map((l) => l.ifname),
      ['lo'],
    )
  })
})
