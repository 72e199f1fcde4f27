/**
 * Resetting a provisioned lab (root; a benchmark, not a test: it prints figures, asserts nothing).
 *   npm run bench:reset        (npm run bench runs it after the plan benchmark)
 * Three Debian cloud-init guests (test/fixtures/build-debian-guest.sh), up and ssh-ready; then,
 * interleaved (this machine's speed drifts): `snapshot restore` until every guest answers ssh
 * again (`kvmctl exec --all -- true`), against `destroy` + `apply --wait` of the same lab. The
 * snapshot is saved again after each rebuild (destroy removes it), untimed.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { removeNetns } from '../test/helpers/netns.js'

const ROOT = new URL('../../', import.meta.url).pathname
const BIN = `${ROOT}bin/run.js`
const GUEST = `${ROOT}examples/debian-guest`
const ROUNDS = Number(process.env.KVMCTL_BENCH_ROUNDS ?? 3)
const netns = `kvmctl-bench-${process.pid}`
const dir = mkdtempSync('/tmp/kr-')
const state = `${dir}/s`
const file = `${dir}/reset.yaml`

const vm = (i: number) => `
  vm${i}:
    image: debian12
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: 10.79.0.${10 + i} }]
    cloud_init: {}
    ready: { ssh: true, timeout: 900s }`

const TOPOLOGY = `name: reset
images:
  debian12:
    path: ${GUEST}/rootfs.qcow2
    kernel: ${GUEST}/vmlinuz
    initrd: ${GUEST}/initrd.img
    cmdline: root=/dev/vda console=ttyS0
networks:
  lan: { cidr: 10.79.0.0/24 }
vms:${vm(0)}${vm(1)}${vm(2)}
`

/** kvmctl on the lab, timed; `command`: what follows `--` (exec). */
function timed(args: string[], command: string[] = []): number {
  const began = process.hrtime.bigint()
  const argv = [BIN, ...args, '-f', file, '--state-dir', state, ...(command.length ? ['--', ...command] : [])]
  const result = spawnSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`kvmctl ${args.join(' ')} failed: ${result.stderr}`)
  return Number(process.hrtime.bigint() - began) / 1e6
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`

if (!existsSync(`${GUEST}/rootfs.qcow2`)) {
  console.error('reset-bench: run test/fixtures/build-debian-guest.sh first')
  process.exit(1)
}
try {
  execFileSync('ip', ['netns', 'add', netns])
  execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up'])
  writeFileSync(file, TOPOLOGY)
  const first = timed(['apply', '--auto-approve', '--wait'])
  const restores: number[] = []
  const loads: number[] = []
  const rebuilds: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    timed(['snapshot', 'save', 'base'])
    // What a CI job does between test runs: change the guests, then reset them.
    timed(['exec', '--all'], ['sudo touch /var/tmp/dirty'])
    const load = timed(['snapshot', 'restore', 'base', '--auto-approve'])
    loads.push(load)
    restores.push(load + timed(['exec', '--all'], ['true']))
    rebuilds.push(timed(['destroy', '--auto-approve']) + timed(['apply', '--auto-approve', '--wait']))
    console.error(`round ${round + 1}: restore ${fmt(restores.at(-1)!)}, rebuild ${fmt(rebuilds.at(-1)!)}`)
  }
  timed(['destroy', '--auto-approve'])
  const restore = median(restores)
  const rebuild = median(rebuilds)
  console.log(
    [
      `Reset of 3 Debian cloud-init guests (1 vCPU, 768M each), ${ROUNDS} interleaved rounds, medians:`,
      `  first apply --wait       ${fmt(first)}`,
      `  snapshot restore + ssh   ${fmt(restore)}   (all: ${restores.map(fmt).join(', ')}; the restore command alone ${fmt(median(loads))})`,
      `  destroy + apply --wait   ${fmt(rebuild)}   (all: ${rebuilds.map(fmt).join(', ')})`,
      `  speed-up                 ${(rebuild / restore).toFixed(1)}x`,
    ].join('\n'),
  )
} finally {
  spawnSync('ip', [
    'netns',
    'exec',
    netns,
    BIN,
    'destroy',
    '-f',
    file,
    '--state-dir',
    state,
    '--auto-approve',
  ])
  removeNetns(netns)
  rmSync(dir, { recursive: true, force: true })
}
