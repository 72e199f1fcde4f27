import { constants } from 'node:fs'
import { access, readFile } from 'node:fs/promises'
import type { Topology } from '../model/types.js'
import type { Plan } from '../plan/types.js'
import type { HostCapabilities } from './qemu-argv.js'

/** The two things KVM needs: a /dev/kvm this user can open, and vmx or svm in the CPU's flags. */
export async function probeKvm(): Promise<{ device: boolean; cpuFlag: string | null }> {
  const [device, cpuinfo] = await Promise.all([
    access('/dev/kvm', constants.R_OK | constants.W_OK).then(
      () => true,
      () => false,
    ),
    readFile('/proc/cpuinfo', 'utf8').catch(() => ''),
  ])
  return { device, cpuFlag: /^flags\s*:.*\b(vmx|svm)\b/m.exec(cpuinfo)?.[1] ?? null }
}

/** What this host can run: KVM only where it really works; KVMCTL_ACCEL overrides `accel: auto`. */
export async function probeCapabilities(env: NodeJS.ProcessEnv = process.env): Promise<HostCapabilities> {
  const { device, cpuFlag } = await probeKvm()
  const override = env.KVMCTL_ACCEL
  return {
    kvm: device && cpuFlag !== null,
    accelOverride: override === 'kvm' || override === 'tcg' ? override : null,
  }
}

/** Whether the plan starts VMs that will run under TCG because this host cannot give them KVM. */
export function runsUnderTcg(plan: Plan, topology: Topology, caps: HostCapabilities): boolean {
  const startsVms = plan.actions.some((a) => a.type === 'vm' && a.action !== 'delete')
  return startsVms && !caps.kvm && !caps.accelOverride && topology.vms.some((vm) => vm.accel === 'auto')
}
