#!/usr/bin/env node
// After tsc: what makes every kvmctl start fast (a `plan` is mostly start-up).
// 1. One bundle of the CLI, oclif and the libraries (dist/bundle/kvmctl.js): loading a few
//    hundred modules one by one cost more than the whole work of a plan. And one of the agent
//    of labs across hosts (dist/bundle/agent.js), which needs no oclif.
// 2. oclif.manifest.json, so that oclif knows the commands without loading them.
// 3. The topology schema's validator as standalone code, so that ajv compiles nothing at run time.
import { writeFileSync } from 'node:fs'
import { Plugin } from '@oclif/core'
import { Ajv } from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'
import { build } from 'esbuild'
import { AJV_OPTIONS, AJV_VOCABULARY } from '../dist/src/config/ajv-options.js'
import { topologySchema } from '../dist/src/lib/package.js'

const root = new URL('..', import.meta.url).pathname

const common = {
  outdir: `${root}dist/bundle`,
  bundle: true,
  platform: 'node',
  target: 'node20',
  // ajv: only when the precompiled validator is missing; listr2: only on a terminal;
  // typescript: oclif's optional ts-node support, never used here.
  external: ['ajv', 'listr2', 'typescript'],
  minifySyntax: true,
  minifyWhitespace: true,
  sourcemap: true,
  logLevel: 'error',
}
await build({
  ...common,
  // The CLI, and the agent a lab across hosts starts on each host (without oclif: half the start).
  entryPoints: { kvmctl: `${root}dist/src/main.js`, agent: `${root}dist/src/cluster/agent-main.js` },
  format: 'esm',
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
})
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true })
await plugin.load()
writeFileSync(`${root}oclif.manifest.json`, `${JSON.stringify(plugin.manifest, null, 2)}\n`)

const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } })
ajv.addVocabulary(AJV_VOCABULARY)
writeFileSync(
  `${root}dist/topology-validator.cjs`,
  standaloneCode.default(ajv, ajv.compile(topologySchema())),
)
