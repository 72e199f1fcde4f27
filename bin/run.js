#!/usr/bin/env node
// The kvmctl binary: the bundled CLI (npm run build makes it). plan, apply and destroy, which
// users run all the time, first try the oclif-free fast entry; the rest, and anything it does
// not handle (--help, a bad flag), go to oclif.
const argv = process.argv.slice(2)
const fast = ['plan', 'apply', 'destroy'].includes(argv[0])
  ? (await import('../dist/bundle/fast.js')).runFast
  : null
if (!fast || !(await fast(argv))) {
  const { run } = await import('../dist/bundle/kvmctl.js')
  await run(import.meta.url)
}
