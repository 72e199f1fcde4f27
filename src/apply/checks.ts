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
  let attempts = 0
  let last: { exitCode: number | null; output: string }
  do {
    if (attempts > 0) await new Promise((resolve) => setTimeout(resolve, check.intervalSeconds * 1000))
    attempts++
    last = await tryOnce(topology, check)
  } while (last.exitCode !== 0 && attempts <= check.retries)
  const seconds = (Date.now() - started) / 1000
  return { name: check.name, vm: check.vm, passed: last.exitCode === 0, attempts, ...last, seconds }
}

/** One try: its exit code (255: ssh itself failed; null: timed out) and its output. */
async function tryOnce(
  topology: Topology,
  check: Check,
): Promise<{ exitCode: number | null; output: string }> {
  const vm = topology.vms.find((v) => v.name === check.vm)!
  try {
    const target = await sshTarget(topology, vm)
    const ssh = [...sshOptions(topology.lab, topology.labDir, vm.name), target, check.run]
    const run = await runCaptured('ssh', ssh, () => {}, check.timeoutSeconds * 1000)
    return { exitCode: run.timedOut ? null : run.code, output: run.stdout + run.stderr }
  } catch (error) {
    if (!(error instanceof KvmctlError)) throw error
    return { exitCode: 255, output: `${error.message}\n` }
  }
}
