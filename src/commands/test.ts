import { copyFile, mkdir } from 'node:fs/promises'
import * as Flags from '@oclif/core/flags'
import { runChecks } from '../apply/checks.js'
import { runApply } from '../apply/run.js'
import { BaseCommand } from '../base-command.js'
import { KvmctlError } from '../lib/errors.js'
import { dhcpFiles, vmFiles } from '../model/layout.js'
import type { Topology } from '../model/types.js'
import type { CheckResult } from '../render/junit.js'
import { describe, finishChecks, junitFlag, pickChecks } from './check.js'

export default class Test extends BaseCommand<typeof Test> {
  static override summary =
    'Make the lab, run its checks, keep the logs of a failure, remove the lab: one CI step.'
  static override description =
    "apply --auto-approve --wait, then the topology's checks (as kvmctl check), then destroy unless --keep. With --junit, a JUnit XML report (an apply that fails is a failed testcase `apply`). When anything failed, each VM's console and QEMU logs and the DHCP logs are copied under --artifacts first. Exit 0 only if the lab came up and every check passed."
  static override examples = [
    '<%= config.bin %> test --junit report.xml',
    '<%= config.bin %> test --keep   # leave the lab up to look at it',
  ]
  static override flags = {
    junit: junitFlag,
    keep: Flags.boolean({ summary: 'Do not destroy the lab afterwards.' }),
    artifacts: Flags.string({
      summary: 'Where the logs go when something failed.',
      default: 'kvmctl-artifacts',
    }),
  }

  async run(): Promise<void> {
    const { topology } = await this.loaded()
    if (topology.hosts.length > 0)
      throw new KvmctlError(
        `lab "${topology.lab}" spans hosts: \`kvmctl test\` makes, checks and removes a lab of one host`,
        'run `kvmctl apply --wait`, then `kvmctl check --host NAME` on each host, then `kvmctl destroy`',
      )
    const checks = pickChecks(topology, [])
    const started = Date.now()
    // apply's and destroy's words go to stderr: stdout is the checks' (or --json's).
    const output = { ...this.output(), json: false, say: (text: string) => this.logToStderr(text) }
    const once = { autoApprove: true, parallelism: 4, lockTimeout: 0, showSensitive: false }
    const tell = (r: CheckResult) => {
      if (!this.flags.json) this.say(describe(r, this.style))
    }
    let results: CheckResult[] | null = null
    try {
      await runApply({ topology, destroy: false, wait: true, ...once, ...output })
    } catch (error) {
      // The lab did not come up: that is the report's one failure.
      const message = error instanceof Error ? error.message : String(error)
      const seconds = (Date.now() - started) / 1000
      results = [
        { name: 'apply', vm: '-', passed: false, attempts: 1, exitCode: 1, output: `${message}\n`, seconds },
      ]
      tell(results[0]!)
    }
    results ??= await runChecks(topology, checks, tell)
    const done = results
    await finishChecks(topology, done, (Date.now() - started) / 1000, this.flags.junit)
    const failed = done.filter((r) => !r.passed)
    if (failed.length > 0) {
      const saved = await saveArtifacts(topology, this.flags.artifacts)
      this.logToStderr(`Saved ${saved} log files under ${this.flags.artifacts}/`)
    }
    if (!this.flags.keep) await runApply({ topology, destroy: true, wait: false, ...once, ...output })
    if (this.flags.json) this.printJson({ passed: failed.length === 0, checks: done })
    if (failed.length > 0)
      throw new KvmctlError(
        `${failed.length} of ${done.length} ${done.length === 1 ? 'check' : 'checks'} failed: ${failed.map((r) => r.name).join(', ')}`,
        `the logs are under ${this.flags.artifacts}/${this.flags.keep ? '; the lab is still up (--keep)' : ''}`,
      )
  }
}

/** Copies each VM's console and QEMU logs and each DHCP network's log: DIR/vm-NAME/..., DIR/net-NAME/... */
async function saveArtifacts(topology: Topology, dir: string): Promise<number> {
  const files = [
    ...topology.vms.flatMap((vm) => {
      const f = vmFiles(vm.runDir)
      return [
        [f.log, `${dir}/vm-${vm.name}/serial.log`],
        [f.qemuLog, `${dir}/vm-${vm.name}/qemu.log`],
      ]
    }),
    ...topology.networks
      .filter((n) => n.dhcp)
      .map((n) => [dhcpFiles(topology.labDir, n.name).log, `${dir}/net-${n.name}/dnsmasq.log`]),
  ]
  let saved = 0
  for (const [from, to] of files) {
    await mkdir(to!.slice(0, to!.lastIndexOf('/')), { recursive: true })
    // A VM that never started has no log: nothing to save.
    saved += await copyFile(from!, to!).then(
      () => 1,
      () => 0,
    )
  }
  return saved
}
