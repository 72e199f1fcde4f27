import { resolve } from 'node:path'
import { type ApplyOptions, runApply } from '../apply/run.js'
import { loadTopology } from '../config/index.js'
import { KvmctlError } from '../errors.js'
import type { Topology } from '../model/types.js'
import { makeStyle } from '../render/style.js'

/** What the command line gives: run.ts's options, with a file (or a lab name) and a colour switch. */
export interface ApplyCommandOptions extends Omit<ApplyOptions, 'topology' | 'style' | 'say'> {
  readonly file: string
  readonly stateDir: string
  /** destroy --lab: the lab to remove without reading a topology file. */
  readonly lab?: string
  readonly color: boolean
}

/** `kvmctl apply` and `kvmctl destroy`, free of oclif (see src/cli/fast.ts). */
export async function applyCommand(o: ApplyCommandOptions): Promise<void> {
  const say = (text: string) => (o.json ? process.stderr : process.stdout).write(`${text}\n`)
  const topology = o.lab ? labOnly(o.lab, o.stateDir) : (await loadTopology(o.file, o.stateDir)).topology
  const { file: _file, stateDir: _stateDir, lab: _lab, color, ...options } = o
  const outcome = await runApply({ ...options, topology, style: makeStyle({ color }), say })
  if (o.json) process.stdout.write(`${JSON.stringify(outcomeJson(outcome), null, 2)}\n`)
}

export function outcomeJson(outcome: Awaited<ReturnType<typeof runApply>>) {
  return {
    plan: outcome.plan,
    result: outcome.result
      ? {
          ok: outcome.result.ok,
          done: outcome.result.done,
          failed: outcome.result.failed.map((f) => ({ address: f.address, error: f.error.message })),
          skipped: outcome.result.skipped,
        }
      : { ok: true, done: [], failed: [], skipped: [] },
  }
}

/** A lab with no resources of its own: what destroy needs to find and remove a lab's objects. */
function labOnly(lab: string, stateDir: string): Topology {
  if (!/^[a-z][a-z0-9-]{0,23}$/.test(lab)) {
    throw new KvmctlError(
      `bad lab name "${lab}"`,
      'a lab name is a lowercase letter and up to 23 lowercase letters, digits or "-"',
    )
  }
  const root = resolve(stateDir)
  return {
    lab,
    file: '',
    stateDir: root,
    labDir: `${root}/${lab}`,
    images: {},
    networks: [],
    disks: [],
    taps: [],
    vms: [],
  }
}
