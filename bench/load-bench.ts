/**
 * Load: a lab of 30 paused VMs, planned 20 times in a row with nothing to change, then destroyed.
 *   npm run bench:load        (root; prints figures, asserts nothing)
 * Per plan: wall time and kvmctl's peak RSS (GNU time). Around the 20 plans: the open file
 * descriptors of the lab's QEMU processes (a leaked QMP connection would show there) and the
 * number of processes in the namespace.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { removeNetns } from '../test/helpers/netns.js'

const ROOT = new URL('../../', import.meta.url).pathname
const BIN = `${ROOT}bin/run.js`
const netns = `kvmctl-load-${process.pid}`
const dir = mkdtempSync('/tmp/kl-')
const file = `${dir}/load.yaml`
const args = ['-f', file, '--state-dir', `${dir}/s`]

const lines = [
  'name: load',
  'defaults: { memory: 64M, shutdown_timeout: 1s }',
  `images: { tiny: { kernel: ${ROOT}examples/guest/vmlinuz, initrd: ${ROOT}examples/guest/initrd.gz } }`,
  'networks: { lan: { cidr: 10.88.0.0/16, dhcp: true } }',
  'vms:',
  ...Array.from(
    { length: 30 },
    (_, i) => `  vm${i}: { image: tiny, state: paused, nics: [{ network: lan, ip: 10.88.0.${i + 10} }] }`,
  ),
]
writeFileSync(file, `${lines.join('\n')}\n`)

const inNetns = (argv: string[]) => ['ip', 'netns', 'exec', netns, ...argv]
function measured(argv: string[]): { seconds: number; rssKiB: number } {
  const result = spawnSync('/usr/bin/time', ['-f', '%e %M', ...inNetns(argv)], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`${argv.join(' ')}: ${result.stderr}`)
  const [seconds, rss] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number)
  return { seconds: seconds!, rssKiB: rss! }
}
const pids = () =>
  execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).split('\n').filter(Boolean)
const fds = () => pids().reduce((sum, pid) => sum + readdirSync(`/proc/${pid}/fd`).length, 0)

try {
  execFileSync('ip', ['netns', 'add', netns])
  const apply = measured([BIN, 'apply', ...args, '--auto-approve'])
  const before = { fds: fds(), processes: pids().length }
  const plans = Array.from({ length: 20 }, () => measured([BIN, 'plan', ...args, '--detailed-exitcode']))
  const after = { fds: fds(), processes: pids().length }
  const destroy = measured([BIN, 'destroy', ...args, '--auto-approve'])
  const first = plans[0]!
  const last = plans.at(-1)!
  console.log('kvmctl load: 30 paused VMs, one DHCP network')
  console.log(`apply from empty   ${apply.seconds.toFixed(2)} s`)
  console.log(
    `plan 1st / 20th    ${first.seconds.toFixed(2)} s / ${last.seconds.toFixed(2)} s   (median ${[...plans]
      .map((p) => p.seconds)
      .sort()[10]!
      .toFixed(2)} s)`,
  )
  console.log(
    `kvmctl peak RSS    ${(first.rssKiB / 1024).toFixed(0)} MiB / ${(last.rssKiB / 1024).toFixed(0)} MiB`,
  )
  console.log(
    `lab fds            ${before.fds} before the 20 plans, ${after.fds} after (${before.processes} and ${after.processes} processes)`,
  )
  console.log(`destroy            ${destroy.seconds.toFixed(2)} s, ${pids().length} processes left`)
} finally {
  removeNetns(netns)
  rmSync(dir, { recursive: true, force: true })
}
