import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { ROOT } from '../helpers/cli.js'

// Ten processes that take the same lab's lock at the same millisecond, each recording when it
// entered and left. The lock files of earlier versions let 4 or 5 of them in at once in this
// test when a dead kvmctl's lock file was there for all of them to take over.
const WORKER = `
import { appendFileSync } from 'node:fs'
const [lab, startAt, log] = process.argv.slice(1)
const { lockLab } = await import(${JSON.stringify(`${ROOT}dist/src/host/lock.js`)})
while (Date.now() < Number(startAt)) await new Promise((resolve) => setTimeout(resolve, 1))
const lock = await lockLab(lab, 60)
appendFileSync(log, 'enter ' + Date.now() + '\\n')
await new Promise((resolve) => setTimeout(resolve, 50))
appendFileSync(log, 'exit ' + Date.now() + '\\n')
await lock.release()
`

describe('the lab lock', () => {
  it('lets exactly one of ten processes that ask at the same millisecond in at a time', async () => {
    const dir = mkdtempSync('/tmp/kt-lock-')
    try {
      const lab = `race-${randomBytes(4).toString('hex')}`
      const startAt = Date.now() + 1500
      const log = `${dir}/log`
      writeFileSync(log, '')
      await Promise.all(
        Array.from(
          { length: 10 },
          () =>
            new Promise<void>((resolve, reject) => {
              const child = spawn(
                process.execPath,
                ['--input-type=module', '-e', WORKER, lab, String(startAt), log],
                {
                  stdio: ['ignore', 'ignore', 'inherit'],
                },
              )
              child.on('error', reject)
              child.on('close', (code) =>
                code === 0 ? resolve() : reject(new Error(`worker exited ${code}`)),
              )
            }),
        ),
      )
      const events = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' ') as ['enter' | 'exit', string])
        .sort((a, b) => Number(a[1]) - Number(b[1]) || (a[0] === 'exit' ? -1 : 1))
      assert.equal(events.filter(([kind]) => kind === 'enter').length, 10, 'every process got the lock')
      let inside = 0
      let most = 0
      for (const [kind] of events) {
        inside += kind === 'enter' ? 1 : -1
        most = Math.max(most, inside)
      }
      assert.equal(most, 1, 'never two inside at once')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
