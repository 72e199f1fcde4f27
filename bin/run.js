#!/usr/bin/env node
// The kvmctl binary: the bundled CLI (npm run build makes it). plan, apply and destroy, which
// users run all the time, first try the oclif-free fast entry; the rest, and anything it does
// not handle (--help, a bad flag), go to oclif.
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'

const argv = process.argv.slice(2)
const fast = ['plan', 'apply', 'destroy'].includes(argv[0]) ? loadFastEntry() : null
if (!fast || !(await fast.runFast(argv))) {
  const { run } = await import('../dist/bundle/kvmctl.js')
  await run(import.meta.url)
}
fast?.saveCodeCache()

/**
 * Loads the fast entry (a CommonJS bundle) with V8's code cache: compiling it, and then each
 * function a command calls, was a sixth of a plan's time. The cache is written after a run
 * without one, so that it holds every function that run compiled; it sits next to the bundle,
 * named after the bundle's size and time, so that a rebuilt bundle never meets an old cache.
 * A cache V8 rejects (another Node.js) is written again; one that cannot be written is skipped.
 */
function loadFastEntry() {
  const file = fileURLToPath(new URL('../dist/bundle/fast.cjs', import.meta.url))
  const { size, mtimeMs } = statSync(file)
  const cacheFile = `${file}.${size}-${Math.trunc(mtimeMs)}.v8cache`
  let cachedData
  try {
    cachedData = readFileSync(cacheFile)
  } catch {}
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`,
    {
      filename: file,
      cachedData,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    },
  )
  const module = { exports: {} }
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file))
  return {
    runFast: module.exports.runFast,
    saveCodeCache() {
      if (cachedData && !script.cachedDataRejected) return
      const partial = `${cacheFile}.${process.pid}`
      try {
        writeFileSync(partial, script.createCachedData())
        renameSync(partial, cacheFile)
      } catch {
        rmSync(partial, { force: true })
      }
    },
  }
}
