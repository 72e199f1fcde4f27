import { constants, existsSync } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { BaseCommand } from '../base-command.js'
import { probeKvm } from '../host/accel.js'
import { run } from '../host/exec.js'
import { OVMF } from '../host/qemu-argv.js'
import { SWTPM } from '../host/tpm-ops.js'
import { KvmctlError } from '../lib/errors.js'

interface Check {
  readonly name: string
  readonly ok: boolean
  /** A gap that is not fatal: kvmctl works, with less. */
  readonly warning?: boolean
  readonly detail: string
  readonly fix?: string
}

const firstLine = (text: string) => text.split('\n')[0]!.trim()

async function version(file: string, args: string[]): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(file, args, { timeoutMs: 10_000 })
    return firstLine(stdout || stderr)
  } catch {
    return null
  }
}

async function tool(
  name: string,
  file: string,
  args: string[],
  pkg: string,
  optional = false,
): Promise<Check> {
  const found = await version(file, args)
  return found
    ? { name, ok: true, detail: found }
    : { name, ok: false, warning: optional, detail: `${file} not found`, fix: `apt-get install ${pkg}` }
}

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override summary = 'Check the host for what kvmctl needs, and say how to fix each gap.'
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json']

  async run(): Promise<void> {
    const checks = await Promise.all([
      tool('QEMU', 'qemu-system-x86_64', ['--version'], 'qemu-system-x86'),
      tool('qemu-img', 'qemu-img', ['--version'], 'qemu-utils'),
      tool('iproute2', 'ip', ['-V'], 'iproute2'),
      this.kvm(),
      this.tun(),
      this.bridge(),
      tool('dnsmasq (DHCP)', 'dnsmasq', ['--version'], 'dnsmasq-base', true),
      tool('nft (NAT)', 'nft', ['--version'], 'nftables', true),
      tool('genisoimage (cloud-init seeds)', 'genisoimage', ['-version'], 'genisoimage', true),
      this.ovmf(),
      tool('swtpm (tpm: true)', SWTPM.binary, ['--version'], SWTPM.package, true),
      tool('tcpdump (kvmctl capture)', 'tcpdump', ['--version'], 'tcpdump', true),
      tool('ssh, ssh-keygen (lab keys)', 'ssh', ['-V'], 'openssh-client', true),
      this.stateDir(),
    ])
    const failed = checks.filter((c) => !c.ok && !c.warning)
    if (this.flags.json) this.printJson({ ok: failed.length === 0, checks })
    else {
      const s = this.style
      for (const c of checks) {
        const mark = c.ok ? s.green('✓') : c.warning ? s.yellow('!') : s.red('✗')
        this.say(
          `${mark} ${c.name.padEnd(30)} ${c.detail}${c.fix ? s.dim(`\n  ${' '.repeat(30)} fix: ${c.fix}`) : ''}`,
        )
      }
    }
    if (failed.length > 0) {
      throw new KvmctlError(
        `${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((c) => c.name).join(', ')}`,
        'apply the fixes above, then run `kvmctl doctor` again',
      )
    }
  }

  private async kvm(): Promise<Check> {
    const { device, cpuFlag: flags } = await probeKvm()
    if (device && flags) return { name: 'KVM', ok: true, detail: `/dev/kvm usable, CPU has ${flags}` }
    return {
      name: 'KVM',
      ok: false,
      warning: true,
      detail: !flags
        ? 'the CPU shows no vmx/svm: VMs run under TCG (slower)'
        : '/dev/kvm cannot be opened: VMs run under TCG (slower)',
      fix: !flags
        ? 'enable virtualization (VT-x/AMD-V) in the firmware, or nested virtualization on the hypervisor'
        : 'modprobe kvm_intel (or kvm_amd), and run kvmctl as a user in the kvm group',
    }
  }

  private async ovmf(): Promise<Check> {
    const files = [OVMF.code, OVMF.vars, OVMF.secureBootCode, OVMF.secureBootVars]
    const missing = files.filter((f) => !existsSync(f))
    return missing.length === 0
      ? { name: 'OVMF (uefi, secure_boot)', ok: true, detail: `${OVMF.code}, ${OVMF.secureBootCode}` }
      : {
          name: 'OVMF (uefi, secure_boot)',
          ok: false,
          warning: true,
          detail: `${missing.join(', ')} missing: VMs with firmware: uefi or secure_boot cannot start`,
          fix: `apt-get install ${OVMF.package}`,
        }
  }

  private async tun(): Promise<Check> {
    const ok = await access('/dev/net/tun', constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    )
    return ok
      ? { name: 'tun', ok, detail: '/dev/net/tun usable' }
      : { name: 'tun', ok, detail: '/dev/net/tun missing', fix: 'modprobe tun' }
  }

  private async bridge(): Promise<Check> {
    const loaded = await access('/sys/module/bridge').then(
      () => true,
      () => false,
    )
    if (loaded) return { name: 'bridge', ok: true, detail: 'bridge support loaded' }
    const modules = await version('modinfo', ['-F', 'name', 'bridge'])
    return modules
      ? { name: 'bridge', ok: true, detail: 'bridge module available (loads on first use)' }
      : {
          name: 'bridge',
          ok: false,
          detail: 'no bridge support found',
          fix: 'modprobe bridge (CONFIG_BRIDGE)',
        }
  }

  private async stateDir(): Promise<Check> {
    const dir = this.flags['state-dir']
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      await access(dir, constants.W_OK)
      return { name: 'state directory', ok: true, detail: `${dir} is writable` }
    } catch (error) {
      return {
        name: 'state directory',
        ok: false,
        detail: `${dir}: ${(error as Error).message}`,
        fix: 'run as root, or pass --state-dir DIR',
      }
    }
  }
}
