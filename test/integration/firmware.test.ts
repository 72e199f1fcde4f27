import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
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
