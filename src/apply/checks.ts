import { sshTarget } from '../host/addresses.js'
import { runCaptured } from '../host/exec.js'
import { sshOptions } from '../host/ssh-keys.js'
import { KvmctlError } from '../lib/errors.js'
import type { Check, Topology } from '../model/types.js'
import type { CheckResult } from '../render/junit.js'

/**
 * Runs checks in their VMs over ssh, all at once (checks are independent), each tried up to
 * 1 + retries times with its interval between tries and its timeout on each; `onResult` hears
 * each outcome as it comes.
 */
export async function runChecks(
  topology: Topology,
  checks: readonly Check[],
  onResult: (result: CheckResult) => void = () => {},
): Promise<CheckResult[]> {
  return Promise.all(
    checks.map(async (check) => {
      const result = await runCheck(topology, check)
      onResult(result)
      return result
    }),
  )
}

async function runCheck(topology: Topology, check: Check): Promise<CheckResult> {
  const started = Date.now()
  const vm = topology.vms.find((v) => v.name === check.vm)!
  let last = { exitCode: 255 as number | null, output: '' }
  for (let attempt = 1; attempt <= check.retries + 1; attempt++) {
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, check.intervalSeconds * 1000))
    try {
      const target = await sshTarget(topology, vm)
      const ssh = [...sshOptions(topology.lab, topology.labDir, vm.name), target, check.run]
      const run = await runCaptured('ssh', ssh, () => {}, check.timeoutSeconds * 1000)
      last = { exitCode: run.timedOut ? null : run.code, output: run.stdout + run.stderr }
    } catch (error) {
      if (!(error instanceof KvmctlError)) throw error
      last = { exitCode: 255, output: `${error.message}\n` }
    }
    const passed = last.exitCode === 0
    if (passed || attempt === check.retries + 1)
      return {
        name: check.name,
        vm: check.vm,
        passed,
        attempts: attempt,
        ...last,
        seconds: (Date.now() - started) / 1000,
      }
  }
  throw new Error('unreachable: the last try returns')
}
