#!/usr/bin/env node
// oclif's entry point, as its template has it; the CLI and oclif are bundled into one file by
// `npm run build` (scripts/postbuild.js).
import { run } from '../dist/bundle/kvmctl.js'

await run(import.meta.url)
