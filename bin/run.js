#!/usr/bin/env node
// The kvmctl binary: the bundled CLI (npm run build makes it). `plan`, which users run all the
// time, first tries the oclif-free fast entry; anything it does not handle goes to oclif.
const argv = process.argv.slice(2)
const fast = argv[0] === 'plan' ? (await import('../dist/bundle/fast.js')).runFast : null
if (!fast || !(await fast(argv))) {
  const { run } = await import('../dist/bundle/kvmctl.js')
  await run(import.meta.url)
}
