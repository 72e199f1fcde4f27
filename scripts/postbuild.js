#!/usr/bin/env node
// After tsc: what makes every kvmctl start fast (a `plan` is mostly start-up).
// 1. One bundle of the CLI and its libraries (dist/bundle/kvmctl.js): loading a few hundred
//    modules one by one cost more than the whole work of a plan. And one of the fast entry
//    for plan, apply and destroy (dist/bundle/fast.cjs), which does without oclif.
// 2. oclif.manifest.json, so that oclif knows the commands without loading them.
// 3. The topology schema's validator as standalone code, so that ajv compiles nothing at run time.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Plugin } from '@oclif/core'
import { Ajv } from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'
import { build } from 'esbuild'
import { AJV_OPTIONS, AJV_VOCABULARY } from '../dist/src/config/ajv-options.js'
import { topologySchema } from '../dist/src/paths.js'

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
  entryPoints: { kvmctl: `${root}dist/src/main.js` },
  format: 'esm',
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
})
// The fast entry for plan, apply and destroy (src/cli/fast.ts): a second, oclif-free bundle, in
// CommonJS so that bin/run.js can compile it with V8's code cache (vm.Script takes no modules).
await build({
  ...common,
  entryPoints: { fast: `${root}dist/src/cli/fast.js` },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: "var __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
})
if (/\bimport\(/.test(readFileSync(`${root}dist/bundle/fast.cjs`, 'utf8'))) {
  throw new Error('dist/bundle/fast.cjs has an import(), which fails where bin/run.js uses its code cache')
}
// A code cache belongs to one build of the bundle (bin/run.js names it after the bundle's size
// and time); the old ones go.
for (const file of readdirSync(`${root}dist/bundle`))
  if (file.includes('.v8cache')) rmSync(`${root}dist/bundle/${file}`)

const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true })
await plugin.load()
writeFileSync(`${root}oclif.manifest.json`, `${JSON.stringify(plugin.manifest, null, 2)}\n`)

const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } })
ajv.addVocabulary(AJV_VOCABULARY)
writeFileSync(
  `${root}dist/topology-validator.cjs`,
  standaloneCode.default(ajv, ajv.compile(topologySchema())),
)
