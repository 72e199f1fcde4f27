import { writeFile } from 'node:fs/promises'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import type { ChalkInstance } from 'chalk'
import { runChecks } from '../apply/checks.js'
import { BaseCommand } from '../base-command.js'
import { KvmctlError } from '../lib/errors.js'
import { didYouMean } from '../lib/suggest.js'
import { escapeControl } from '../lib/terminal.js'
import type { Check, Topology } from '../model/types.js'
import { type CheckResult, renderJunit } from '../render/junit.js'

export const junitFlag = Flags.string({ summary: 'Write a JUnit XML report of the checks to this file.' })

export default class CheckCommand extends BaseCommand<typeof CheckCommand> {
  static override summary = "Run the topology's checks against the lab as it is: exit 0 only if all pass."
  static override description =
    "Each check runs its command in its VM over ssh with the lab's key, tried up to 1 + retries times; independent checks run at once. `kvmctl test` also makes the lab first and removes it after."
  static override examples = [
    '<%= config.bin %> check',
    '<%= config.bin %> check web-answers --junit report.xml',
  ]
  static override strict = false
  static override args = { name: Args.string({ description: 'Only these checks (default: all).' }) }
  static override flags = { junit: junitFlag }

  async run(): Promise<void> {
    const { argv } = await this.parse(CheckCommand)
    const topology = await this.topology()
    const checks = pickChecks(topology, argv as string[])
    const started = Date.now()
    const results = await runChecks(topology, checks, (r) => {
      if (!this.flags.json) this.say(describe(r, this.style))
    })
    await finishChecks(topology, results, (Date.now() - started) / 1000, this.flags.junit)
    if (this.flags.json) this.printJson(results)
    const failed = results.filter((r) => !r.passed)
    if (failed.length > 0)
      throw new KvmctlError(
        `${failed.length} of ${results.length} checks failed: ${failed.map((r) => r.name).join(', ')}`,
        'their output is above; `kvmctl ssh VM` to look around',
      )
  }
}

/** The checks named, or all; a lab without checks is an error, not a pass. */
export function pickChecks(topology: Topology, names: readonly string[]): Check[] {
  if (topology.checks.length === 0)
    throw new KvmctlError(
      `lab "${topology.lab}" has no checks`,
      'declare them under checks: in the topology (docs/topology.md)',
    )
  return names.length === 0
    ? [...topology.checks]
    : names.map((name) => {
        const check = topology.checks.find((c) => c.name === name)
        if (!check)
          throw new KvmctlError(
            `lab "${topology.lab}" has no check "${name}"${didYouMean(
              name,
              topology.checks.map((c) => c.name),
            )}`,
          )
        return check
      })
}

/** A result for people: ✓ or ✗, its VM, tries and time; a failure's output indented below. */
export function describe(r: CheckResult, s: ChalkInstance): string {
  const tries = `${r.attempts} ${r.attempts === 1 ? 'try' : 'tries'}`
  if (r.passed) return `${s.green('✓')} ${r.name} (vm/${r.vm}, ${tries}, ${r.seconds.toFixed(1)}s)`
  const why = r.exitCode === null ? 'timed out' : `exit ${r.exitCode}`
  const output = escapeControl(r.output.trimEnd())
    .split('\n')
    .slice(-20)
    .map((line) => `    ${line}`)
    .join('\n')
  return `${s.red('✗')} ${r.name} (vm/${r.vm}): ${why} after ${tries}${output.trim() ? `\n${output}` : ''}`
}

/** Writes the JUnit report when asked for. */
export async function finishChecks(
  topology: Topology,
  results: readonly CheckResult[],
  seconds: number,
  junit: string | undefined,
): Promise<void> {
  if (junit) await writeFile(junit, renderJunit(topology.lab, results, seconds))
}
