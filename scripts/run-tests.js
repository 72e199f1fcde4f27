#!/usr/bin/env node
// Runs the compiled tests (dist/test) with Node's test runner, one file at a time: the host
// tests boot real guests, and two cores do not take two labs of TCG guests at once.
//   node scripts/run-tests.js            unit and host tests
//   node scripts/run-tests.js unit       unit tests only (no root needed)
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const which = process.argv[2] ?? 'all'
const find = (dir) =>
  !existsSync(dir)
    ? []
    : readdirSync(dir)
        .flatMap((name) => {
          const path = join(dir, name)
          return statSync(path).isDirectory() ? find(path) : path.endsWith('.test.js') ? [path] : []
        })
        .sort()

const files = find('dist/test/unit')
if (which !== 'unit') {
  if (process.getuid?.() !== 0) {
    console.error(
      'host tests need root (network namespaces, bridges, taps, QEMU); run as root or use `npm run test:unit`',
    )
    process.exit(1)
  }
  files.push(...find('dist/test/integration'))
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  {
    stdio: 'inherit',
  },
)
process.exit(result.status ?? 1)
