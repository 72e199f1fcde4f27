import type { Address } from '../model/types.js'
import type { Action, Plan } from '../plan/types.js'

export type StepRunner = (action: Action) => Promise<void>

export interface StepHooks {
  onStart?(action: Action): void
  onDone?(action: Action, ms: number): void
  onFail?(action: Action, error: Error): void
  onSkip?(action: Action, reason: string): void
}

export interface ApplyResult {
  readonly ok: boolean
  readonly done: readonly Address[]
  readonly failed: readonly { address: Address; error: Error }[]
  readonly skipped: readonly { address: Address; reason: string }[]
  readonly interrupted: boolean
}

export interface ExecuteOptions {
  readonly parallelism: number
  /** Aborted (Ctrl-C): the steps in flight finish, no new one starts. */
  readonly signal?: AbortSignal
  readonly hooks?: StepHooks
}

/**
 * Carries out a plan: each action starts as soon as everything it depends on is done, at most
 * `parallelism` at a time. A failed action stops its dependents (transitively); the others go on.
 * The executor knows nothing of hosts: `runStep` does the work.
 */
export async function execute(
  plan: Plan,
  runStep: StepRunner,
  options: ExecuteOptions,
): Promise<ApplyResult> {
  const hooks = options.hooks ?? {}
  const pending = new Map(plan.actions.map((a) => [a.address, a]))
  const done: Address[] = []
  const failed: { address: Address; error: Error }[] = []
  const skipped: { address: Address; reason: string }[] = []
  const settled = new Set<Address>()
  const running = new Map<Address, Promise<void>>()

  const skip = (action: Action, reason: string) => {
    pending.delete(action.address)
    settled.add(action.address)
    skipped.push({ address: action.address, reason })
    hooks.onSkip?.(action, reason)
  }
  // Everything that depends, directly or not, on a failed or skipped action cannot run.
  const skipDependents = (address: Address) => {
    for (const action of [...pending.values()]) {
      if (pending.has(action.address) && action.depends_on.includes(address)) {
        skip(action, `${address} did not succeed`)
        skipDependents(action.address)
      }
    }
  }

  const start = (action: Action) => {
    pending.delete(action.address)
    hooks.onStart?.(action)
    const began = Date.now()
    const step = runStep(action).then(
      () => {
        done.push(action.address)
        hooks.onDone?.(action, Date.now() - began)
      },
      (error: unknown) => {
        const err = error instanceof Error ? error : new Error(String(error))
        failed.push({ address: action.address, error: err })
        hooks.onFail?.(action, err)
        skipDependents(action.address)
      },
    )
    running.set(
      action.address,
      step.finally(() => {
        running.delete(action.address)
        settled.add(action.address)
      }),
    )
  }

  for (;;) {
    if (!options.signal?.aborted) {
      for (const action of plan.actions) {
        if (running.size >= options.parallelism) break
        if (
          pending.has(action.address) &&
          action.depends_on.every((d) => settled.has(d) && done.includes(d))
        ) {
          start(action)
        }
      }
    }
    if (running.size === 0) break
    await Promise.race(running.values())
  }
  const interrupted = options.signal?.aborted === true
  for (const action of [...pending.values()]) skip(action, interrupted ? 'interrupted' : 'not reached')
  return { ok: failed.length === 0 && skipped.length === 0, done, failed, skipped, interrupted }
}
