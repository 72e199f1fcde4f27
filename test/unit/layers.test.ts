import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT } from '../helpers/cli.js'

/**
 * The layers of src/, lowest first: a module may import its own layer and those below it, never
 * one above (docs/architecture.md, "Layers"). The pure core (lib, model, cloud-init, config, plan, render)
 * sits below the shell of side effects (host; apply and cluster, which drives other hosts) and the command line.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['lib'],
  ['model'],
  ['cloud-init'],
  ['config'],
  ['plan'],
  ['render'],
  ['host'],
  ['apply', 'cluster'],
  ['commands', 'base-command.ts', 'main.ts', 'report-error.ts'],
]

const layerOf = (file: string): number => {
  const top = relative(`${ROOT}src`, file).split('/')[0]!
  const index = LAYERS.findIndex((names) => names.includes(top))
  if (index < 0) throw new Error(`${file} is in no layer: add ${top} to LAYERS`)
  return index
}

const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })

/** Every relative import of a source file, as the .ts file it names. */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'|import\('(\.[^']+)'\)/gm)].map((m) =>
    normalize(join(dirname(file), (m[1] ?? m[2])!.replace(/\.js$/, '.ts'))),
  )
}

describe('layers', () => {
  it('no module of src/ imports a module of a higher layer', () => {
    const upward: string[] = []
    for (const file of sources(`${ROOT}src`)) {
      for (const target of importsOf(file)) {
        if (layerOf(target) > layerOf(file))
          upward.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}`)
      }
    }
    assert.deepEqual(upward, [])
  })

  it('sees an upward import when there is one', () => {
    // The check itself must be able to fail: a planner module that reached into the host would.
    assert.ok(layerOf(`${ROOT}src/host/observe.ts`) > layerOf(`${ROOT}src/plan/diff.ts`))
    assert.ok(importsOf(`${ROOT}src/plan/diff.ts`).some((f) => f.endsWith('src/plan/fields.ts')))
  })
})
