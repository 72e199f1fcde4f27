import { nvramOf, vmFiles } from '../model/layout.js'
import type { DiskFormat, Vm } from '../model/types.js'

export interface HostCapabilities {
  /** /dev/kvm can be opened and the CPU shows vmx or svm. */
  readonly kvm: boolean
  /** KVMCTL_ACCEL: overrides `accel: auto`. */
  readonly accelOverride: 'kvm' | 'tcg' | null
}

export interface Drive {
  readonly path: string
  readonly format: DiskFormat
  /** The block node's name, which QMP block_resize addresses. */
  readonly node: string
  /** The cloud-init seed: the guest may read it, never write it. */
  readonly readOnly?: boolean
}

/**
 * The host's UEFI firmware (Debian's and Ubuntu's package ovmf): its code, and the variables'
 * template; for Secure Boot, the build that enforces it (its variables guarded by SMM) and the
 * template with Microsoft's keys enrolled, which distributions' shims are signed with.
 */
export const OVMF = {
  code: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  vars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  secureBootCode: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
  secureBootVars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
  package: 'ovmf',
} as const

/** The OVMF files a VM boots with, or null (bios). */
export function ovmfOf(vm: Pick<Vm, 'firmware' | 'secureBoot'>): { code: string; vars: string } | null {
  if (vm.firmware !== 'uefi') return null
  return vm.secureBoot
    ? { code: OVMF.secureBootCode, vars: OVMF.secureBootVars }
    : { code: OVMF.code, vars: OVMF.vars }
}

/** `auto` is KVM only where it really works; KVMCTL_ACCEL overrides `auto`, never an explicit choice. */
export function chooseAccel(vm: Pick<Vm, 'accel'>, caps: HostCapabilities): 'kvm' | 'tcg' {
  if (vm.accel !== 'auto') return vm.accel
  return caps.accelOverride ?? (caps.kvm ? 'kvm' : 'tcg')
}

/** QEMU's option syntax ends a value at a comma; a literal comma is written twice. */
const optValue = (value: string) => value.replaceAll(',', ',,')

/**
 * The full QEMU command line of a VM: pure, so that golden tests pin it down. Every path and
 * name in it comes from the resolved model; nothing is ever passed through a shell.
 */
export function qemuArgv(
  lab: string,
  vm: Vm,
  drives: readonly Drive[],
  caps: HostCapabilities,
  binary = 'qemu-system-x86_64',
): string[] {
  const files = vmFiles(vm.runDir)
  const accel = chooseAccel(vm, caps)
  const argv = [
    binary,
    '-name',
    `guest=${lab}/${vm.name},process=kvm-${vm.name}`,
    '-nodefaults',
    '-no-user-config',
    '-machine',
    // Secure Boot's variables are written through SMM only, out of the guest kernel's reach.
    vm.secureBoot ? `${vm.machine},smm=on` : vm.machine,
    '-accel',
    accel === 'kvm' ? 'kvm' : `tcg${vm.cpus > 1 ? ',thread=multi' : ''}`,
    '-cpu',
    accel === 'kvm' ? 'host' : 'max',
    '-smp',
    String(vm.cpus),
    '-m',
    String(vm.memoryMiB),
    '-display',
    'none',
    // No new processes, no privilege changes, no obsolete system calls once the guest runs.
    // (spawn=deny is why kvmctl detaches QEMU itself: -daemonize forks and would be killed.)
    // -runas needs QEMU's own setuid after the filter is in place; it can only lower privileges.
    '-sandbox',
    `on,obsolete=deny,elevateprivileges=${vm.runAs ? 'allow' : 'deny'},spawn=deny,resourcecontrol=deny`,
    ...(vm.runAs ? ['-runas', vm.runAs] : []),
    '-pidfile',
    files.pid,
    '-qmp',
    `unix:${optValue(files.qmp)},server=on,wait=off`,
    '-chardev',
    `socket,id=serial0,path=${optValue(files.serial)},server=on,wait=off,logfile=${optValue(files.log)},logappend=on`,
    '-serial',
    'chardev:serial0',
  ]
  const ovmf = ovmfOf(vm)
  const nvram = nvramOf(vm)
  if (ovmf && nvram) {
    // OVMF's code read-only, shared by every VM; its variables in the VM's own NVRAM.
    argv.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${optValue(ovmf.code)}`)
    argv.push('-drive', `if=pflash,format=raw,unit=1,file=${optValue(nvram)}`)
    if (vm.secureBoot) argv.push('-global', 'driver=cfi.pflash01,property=secure,value=on')
  }
  if (vm.tpm) {
    // The VM's swtpm, started by kvmctl before QEMU (startSwtpm), on its control socket.
    argv.push('-chardev', `socket,id=tpm0-chardev,path=${optValue(files.swtpmSocket)}`)
    argv.push('-tpmdev', 'emulator,id=tpm0,chardev=tpm0-chardev')
    argv.push('-device', 'tpm-tis,tpmdev=tpm0')
  }
  if (vm.state === 'paused') argv.push('-S')
  if (vm.kernel) argv.push('-kernel', vm.kernel)
  if (vm.initrd) argv.push('-initrd', vm.initrd)
  if (vm.cmdline) argv.push('-append', vm.cmdline)
  drives.forEach((drive, index) => {
    // -blockdev in JSON: a path needs no escaping there.
    const readOnly = drive.readOnly ? { 'read-only': true } : {}
    const blockdev = {
      driver: drive.format,
      'node-name': drive.node,
      ...readOnly,
      file: { driver: 'file', filename: drive.path, ...readOnly },
    }
    argv.push('-blockdev', JSON.stringify(blockdev))
    // A direct kernel boot owns boot index 0; otherwise the boot disk does.
    const boot = index === 0 && !vm.kernel ? ',bootindex=0' : ''
    argv.push('-device', `virtio-blk-pci,drive=${drive.node},id=${drive.node}${boot}`)
  })
  vm.mounts.forEach((mount, index) => {
    // security_model=none: the guest sees the files' owners and modes as they are; what it makes
    // gets the guest's owner where QEMU may set it (QEMU as root), else QEMU's user, without an
    // error. readonly=on makes the host refuse every write.
    const readOnly = mount.readOnly ? ',readonly=on' : ''
    argv.push('-fsdev', `local,id=fs${index},path=${optValue(mount.source)},security_model=none${readOnly}`)
    argv.push('-device', `virtio-9p-pci,fsdev=fs${index},mount_tag=${mount.tag}`)
  })
  vm.nics.forEach((nic, index) => {
    argv.push('-netdev', `tap,id=net${index},ifname=${nic.device},script=no,downscript=no`)
    // romfile=: no network-boot ROM to load; kvmctl boots from a kernel or a disk.
    // host_mtu: the guest's NIC takes the network's mtu (jumbo frames on a wire) without config.
    const mtu = nic.mtu && nic.mtu !== 1500 ? `,host_mtu=${nic.mtu}` : ''
    argv.push('-device', `virtio-net-pci,netdev=net${index},mac=${nic.mac}${mtu},romfile=`)
  })
  return argv
}
