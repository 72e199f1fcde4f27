#!/usr/bin/env node
// oclif's entry point, as its template has it; the CLI and oclif are bundled into one file by
// `npm run build` (scripts/postbuild.js). `kvmctl agent`, which kvmctl starts on each host of a
// lab across hosts, has a bundle of its own without oclif (src/cluster/agent-main.ts).
if (process.argv[2] === 'agent') {
  const { runAgent } = await import('../dist/bundle/agent.js')
  await runAgent(process.argv.slice(3))
} else {
  const { run } = await import('../dist/bundle/kvmctl.js')
  await run(import.meta.url)
}
