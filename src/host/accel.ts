import { constants } from 'node:fs'
import { access, readFile } from 'node:fs/promises'
import type { HostCapabilities } from './qemu-argv.js'

/** What this host can run: KVM only where /dev/kvm opens and the CPU has vmx or svm. */
export async function probeCapabilities(env: NodeJS.ProcessEnv = process.env): Promise<HostCapabilities> {
  const [device, cpuinfo] = await Promise.all([
    access('/dev/kvm', constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    ),
    readFile('/proc/cpuinfo', 'utf8').catch(() => ''),
  ])
  const override = env.KVMCTL_ACCEL
  return {
    kvm: device && /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo),
    accelOverride: override === 'kvm' || override === 'tcg' ? override : null,
  }
}
