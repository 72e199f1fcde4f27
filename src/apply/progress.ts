import type { ChalkInstance } from 'chalk'
import type { Action } from '../plan/types.js'
import type { StepHooks } from './executor.js'

const VERB: Record<string, [string, string]> = {
  create: ['creating', 'created'],
  update: ['updating', 'updated'],
  restart: ['restarting', 'restarted'],
  replace: ['replacing', 'replaced'],
  delete: ['deleting', 'deleted'],
}

/** Progress as plain lines on stderr: CI logs, pipes, --json. */
export function lineProgress(style: ChalkInstance, write: (line: string) => void): StepHooks {
  return {
    onStart: (a) => write(`${a.address}: ${VERB[a.action]![0]}...`),
    onDone: (a, ms) => write(`${a.address}: ${style.green(VERB[a.action]![1])} (${(ms / 1000).toFixed(1)}s)`),
    // The whole error (a host command's argv and stderr) is printed once, at the end.
    onFail: (a) => write(`${a.address}: ${style.red('failed')} (see below)`),
    onSkip: (a, reason) => write(`${a.address}: ${style.yellow('skipped')} (${reason})`),
  }
}

interface Deferred {
  resolve(): void
  reject(error: Error): void
  skip(reason: string): void
  promise: Promise<string | undefined>
}

/**
 * A listr2 task list on a terminal. The executor decides what runs when; listr2 only draws:
 * each task waits for the executor to report its action's end.
 */
export async function listrProgress(
  actions: readonly Action[],
): Promise<{ hooks: StepHooks; finished: Promise<void> }> {
  // Loaded only here, on a terminal: CI logs and --json never pay for it.
  const { Listr } = await import('listr2')
  const deferred = new Map<string, Deferred>()
  for (const action of actions) {
    let resolve!: (v: string | undefined) => void
    let reject!: (e: Error) => void
    const promise = new Promise<string | undefined>((res, rej) => {
      resolve = res
      reject = rej
    })
    deferred.set(action.address, {
      resolve: () => resolve(undefined),
      reject,
      skip: (r) => resolve(r),
      promise,
    })
  }
  const list = new Listr(
    actions.map((action) => ({
      title: `${action.address}: ${action.action}`,
      task: async (_ctx: unknown, task: { title: string; skip: (m: string) => void }) => {
        const skipped = await deferred.get(action.address)!.promise
        if (skipped) task.skip(`${action.address}: skipped (${skipped})`)
        else task.title = `${action.address}: ${VERB[action.action]![1]}`
      },
    })),
    { concurrent: true, exitOnError: false, rendererOptions: { collapseErrors: false } },
  )
  const finished = list.run().then(
    () => undefined,
    () => undefined,
  )
  return {
    finished,
    hooks: {
      onDone: (a) => deferred.get(a.address)?.resolve(),
      onFail: (a, error) => deferred.get(a.address)?.reject(error),
      onSkip: (a, reason) => deferred.get(a.address)?.skip(reason),
    },
  }
}
