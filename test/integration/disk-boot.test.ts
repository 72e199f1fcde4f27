import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { ROOT } from '../helpers/cli.js'
import { editFile, TestHost } from '../helpers/host.js'

// A GPT disk shaped like Debian's genericcloud image (test/fixtures/build-debian-guest.sh:
// BIOS boot, EFI system and ext4 root partitions; GRUB for i386-pc; shim and the signed GRUB on
// the ESP's removable path), booted as a user boots their distribution's image: no kernel, its
// own boot loader, under SeaBIOS and under OVMF with Secure Boot, with a TPM.
const DISK = `${ROOT}examples/debian-guest/disk.qcow2`

// One vCPU each: two MTTCG vCPUs on a 2-core host can stall a Debian boot.
const TOPOLOGY = `
name: gc
images:
  genericcloud: { path: ${DISK} }
networks:
  lan: { cidr: 10.72.0.0/24, dhcp: true }
vms:
  b:
    image: genericcloud
    firmware: bios
    disk_size: 4G
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: 10.72.0.10 }]
    cloud_init: { user_data: { hostname: bravo } }
    ready: { ssh: true, timeout: 600s }
  s:
    image: genericcloud
    secure_boot: true
    tpm: true
    disk_size: 4G
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: 10.72.0.11 }]
    cloud_init: { user_data: { hostname: sierra } }
    ready: { ssh: true, timeout: 600s }
`

/** A variable of kvmctl's tests in the guest's UEFI NVRAM: attributes NV+BS+RT, then its data. */
const VARIABLE = '/sys/firmware/efi/efivars/KvmctlTest-5f0b6a52-2f7d-4d8e-9a51-7c3e1f0b9d24'
/** TPM2_GetRandom(8) sent to the kernel's TPM resource manager: its response code and byte count. */
const GET_RANDOM =
  "sudo python3 -c \"import os; f = os.open('/dev/tpmrm0', os.O_RDWR); os.write(f, bytes.fromhex('80010000000c0000017b0008')); r = os.read(f, 64); print('rc=' + r[6:10].hex(), 'bytes=' + str(int.from_bytes(r[10:12], 'big')))\""

describe('distribution-style cloud images: disk boot through their own GRUB, BIOS, UEFI, Secure Boot, TPM', () => {
  let host: TestHost
  let file: string
  before(() => {
    assert.ok(existsSync(DISK), 'run test/fixtures/build-debian-guest.sh first (scripts/test.sh does)')
    host = new TestHost()
    file = host.topology('gc.yaml', TOPOLOGY)
  })
  after(() => host.cleanup())

  const ssh = (vm: string, command: string) => host.ssh(file, vm, command)
  const out = (vm: string, command: string) => host.sshOk(file, vm, command)
  const run = (vm: string) => `${host.stateDir}/gc/vm-${vm}`
  const apply = async () => {
    const started = Date.now()
    const result = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(result.code, 0, result.stderr)
    return (Date.now() - started) / 1000
  }
  /** The guest's uptime when cloud-init finished, as its console says: its own boot time. */
  const uptimeAtCloudInitDone = (vm: string) =>
    /Cloud-init v\. \S+ finished at .* Up ([\d.]+) seconds/.exec(
      readFileSync(`${run(vm)}/serial.log`, 'utf8'),
    )?.[1]
  /** The Secure Boot state the guest's firmware reports: the last byte of SecureBoot-<EFI global>. */
  const secureBoot = (vm: string) =>
    out(
      vm,
      'od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | tr -s " " "\\n" | tail -n1',
    )

  it('boots without a kernel under SeaBIOS and under OVMF Secure Boot: cloud-init, ssh, growpart to 4G', async () => {
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(
      plan.stdout,
      /Note: vm\/s: UEFI \(the host's OVMF, Secure Boot with Microsoft's keys enrolled\) on machine q35/,
    )
    assert.match(plan.stdout, /Note: vm\/s: a TPM 2\.0 through swtpm/)
    const seconds = await apply()
    process.stderr.write(
      `# bios and secure_boot+tpm guests both ssh-ready (booted side by side) after ${seconds.toFixed(0)} s\n`,
    )

    for (const [vm, name] of [
      ['b', 'bravo'],
      ['s', 'sierra'],
    ] as const) {
      // One login for the facts of each guest: a TCG guest takes a second or two per login.
      const [hostname, cloudInit, partition, filesystem] = (
        await out(
          vm,
          'hostname; cloud-init status; lsblk -bndo SIZE /dev/vda1; df -B1 --output=size / | tail -n1',
        )
      ).split('\n')
      assert.equal(hostname, name, `${vm}: the hostname from cloud-init's user data`)
      assert.equal(cloudInit, 'status: done')
      // growpart grew the root partition (the last) to the disk's end, resize2fs the file system.
      assert.ok(Number(partition) > 3.8 * 2 ** 30, `${vm}: root partition ${partition} bytes`)
      assert.ok(Number(filesystem) > 3.6 * 2 ** 30, `${vm}: root file system ${filesystem} bytes`)
      process.stderr.write(
        `# ${vm}: cloud-init done ${uptimeAtCloudInitDone(vm)} s after the kernel started\n`,
      )
    }
    assert.equal(await out('b', 'test -d /sys/firmware/efi && echo efi || echo bios'), 'bios')
    assert.equal(await secureBoot('s'), '1', 'Secure Boot enabled, as the guest firmware reports it')
    assert.match(await out('s', 'sudo dmesg'), /secureboot: Secure boot enabled/)
    assert.equal(await out('s', 'test -c /dev/tpm0 && echo tpm0'), 'tpm0')
    assert.equal(await out('s', GET_RANDOM), 'rc=00000000 bytes=8', 'the TPM answers TPM2_GetRandom')

    const status = JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout)
    const s = status.vms.find((v: { name: string }) => v.name === 's')
    assert.deepEqual(
      [s.firmware, s.secure_boot, s.nvram, s.tpm],
      ['uefi', true, `${run('s')}/OVMF_VARS.ms.fd`, { running: true, state: `${run('s')}/tpm2.state` }],
    )
    for (const path of [`${run('s')}/OVMF_VARS.ms.fd`, `${run('s')}/tpm2.state`])
      assert.equal(statSync(path).mode & 0o777, 0o600, `${path} is the owner's alone`)
  })

  it('keeps the NVRAM and the TPM state across a restart: a variable the guest wrote is still there', async () => {
    await out(
      's',
      `sudo python3 -c "open('${VARIABLE}', 'wb').write(bytes([7, 0, 0, 0]) + b'kvmctl-was-here')"`,
    )
    const tpmState = statSync(`${run('s')}/tpm2.state`).ino
    editFile(
      file,
      '    tpm: true\n    disk_size: 4G\n    cpus: 1\n    memory: 768M',
      '    tpm: true\n    disk_size: 4G\n    cpus: 1\n    memory: 800M',
    )
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /~ restart vm\/s/)
    assert.doesNotMatch(plan.stdout, /destroys data/)
    await apply()
    assert.equal(
      await out('s', `tail -c 15 ${VARIABLE}`),
      'kvmctl-was-here',
      'the variable survived the restart',
    )
    assert.equal(await secureBoot('s'), '1')
    assert.equal(statSync(`${run('s')}/tpm2.state`).ino, tpmState, 'the same TPM state')
    assert.equal(await out('s', GET_RANDOM), 'rc=00000000 bytes=8')
  })

  it('turning Secure Boot off is a restart that replaces the NVRAM, as the plan says; UEFI boots the disk', async () => {
    editFile(file, '    secure_boot: true\n', '    secure_boot: false\n    firmware: uefi\n')
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.match(plan.stdout, /~ restart vm\/s +destroys data/)
    assert.match(plan.stdout, /secure_boot +true → false +\(restart\)/)
    assert.match(plan.stdout, /its NVRAM \(.*OVMF_VARS\.ms\.fd\) is removed on this restart/)
    process.stderr.write(`# s: restarted on plain UEFI, ssh-ready after ${(await apply()).toFixed(0)} s\n`)
    assert.equal(await out('s', 'test -d /sys/firmware/efi && echo efi'), 'efi', 'booted through UEFI')
    assert.equal(await secureBoot('s'), '0', 'Secure Boot off')
    assert.equal((await ssh('s', `test -e ${VARIABLE}`)).code, 1, 'a fresh NVRAM')
    assert.equal(existsSync(`${run('s')}/OVMF_VARS.ms.fd`), false)
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0, 'no drift')
  })

  it('destroy stops every swtpm and leaves no NVRAM or TPM state', async () => {
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.deepEqual(host.pids(), [], 'no QEMU, swtpm or dnsmasq left in the namespace')
    assert.equal(existsSync(`${host.stateDir}/gc`), false)
    const ours = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(host.stateDir)
        } catch {
          return false
        }
      })
    assert.deepEqual(ours, [], "no process anywhere names the lab's state directory")
  })
})
