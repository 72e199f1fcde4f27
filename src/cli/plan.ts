import { loadTopology } from '../config/index.js'
import { KvmctlError } from '../errors.js'
import { observe } from '../host/observe.js'
import { writeFileAtomic } from '../host/state.js'
import { diff } from '../plan/diff.js'
import { renderPlan } from '../render/plan-text.js'
import { makeStyle } from '../render/style.js'

export interface PlanOptions {
  readonly file: string
  readonly stateDir: string
  readonly json: boolean
  readonly color: boolean
  readonly out?: string
  readonly targets?: readonly string[]
  readonly detailedExitcode: boolean
  readonly capacity: 'warn' | 'error'
}

/**
 * `kvmctl plan`, free of oclif: both the oclif command and the fast entry (src/cli/fast.ts) run
 * this, so that the command users run all the time starts without loading the CLI framework.
 */
export async function planCommand(o: PlanOptions): Promise<void> {
  const say = (text: string) => (o.json ? process.stderr : process.stdout).write(`${text}\n`)
  const { topology } = await loadTopology(o.file, o.stateDir)
  const plan = diff(topology, await observe(topology), { targets: o.targets })
  if (o.capacity === 'error' && plan.warnings.length > 0) {
    throw new KvmctlError(
      plan.warnings.join('\n'),
      'make the lab smaller, free host memory, or run with --capacity warn',
    )
  }
  if (o.out) await writeFileAtomic(o.out, `${JSON.stringify(plan, null, 2)}\n`)
  if (o.json) process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`)
  else {
    say(renderPlan(plan, makeStyle({ color: o.color })))
    if (o.out && plan.actions.length > 0) {
      say(`\nSaved the plan to ${o.out}; \`kvmctl apply ${o.out}\` carries out exactly this plan.`)
    }
  }
  if (o.detailedExitcode && plan.actions.length > 0) process.exitCode = 2
}
