#!/usr/bin/env node
// The kvmctl binary: the bundled CLI (npm run build makes it).
const { run } = await import('../dist/bundle/kvmctl.js')
await run(import.meta.url)
