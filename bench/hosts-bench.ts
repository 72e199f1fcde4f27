/**
 * A lab across hosts against the same lab on one host (root; figures, no assertions).
 *   npm run bench:hosts       (KVMCTL_BENCH_ROUNDS: plans per side, default 11)
 * Three network-namespace hosts with their own sshd (the test cluster), 10 paused VMs on each
 * and a network spanning them, planned from a controller namespace over OpenSSH; and the same
 * 30 VMs as a lab of one host in a namespace of its own. `plan` with nothing to change, the two
 * interleaved (this machine's speed drifts); then the apply of the lab across hosts from empty
 * (its boot files in the hosts' image caches, and the first time, when they are copied there)
 * against the apply of one host's share (10 VMs) alone. One kernel and two cores for all: the
 * three hosts' agents share the cores a real cluster would not.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { TestCluster } from '../test/helpers/cluster.js'
import { removeNetns } from '../test/helpers/netns.js'

const ROOT = new URL('../../', import.meta.url).pathname
const BIN = `${ROOT}bin/run.js`
const ROUNDS = Number(process.env.KVMCTL_BENCH_ROUNDS ?? 11)
const IMAGE = `images: { tiny: { kernel: ${ROOT}examples/guest/vmlinuz, initrd: ${ROOT}examples/guest/initrd.gz, cmdline: console=ttyS0 } }`

function vms(hosts: readonly (string | null)[], perHost: number): string[] {
  return hosts.flatMap((host, h) =>
    Array.from(
      { length: perHost },
      (_, i) =>
        `  vm${h}x${i}: { ${host ? `host: ${host}, ` : ''}image: tiny, state: paused, nics: [{ network: lan }] }`,
    ),
  )
}

function lab(name: string, header: string[], machines: (string | null)[], perHost: number): string {
  return [
    `name: ${name}`,
    ...header,
    'defaults: { memory: 64M, shutdown_timeout: 1s }',
    IMAGE,
    'networks: { lan: { cidr: 10.77.0.0/16 } }',
    'vms:',
    ...vms(machines, perHost),
    '',
  ].join('\n')
}

/** CPU time all processes of the machine have used, in ms (/proc/stat: user, nice, system...). */
function cpuMs(): number {
  const fields = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number)
  const busy = fields.reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!
  return busy * 10
}

/** Wall time of a command in ms; the machine's CPU time during it goes to `cpu`. */
function timed(netns: string, argv: string[], cpu: number[] = []): number {
  const cpuBefore = cpuMs()
  const began = process.hrtime.bigint()
  const result = spawnSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - began) / 1e6
  cpu.push(cpuMs() - cpuBefore)
  if (result.status !== 0 && result.status !== 2)
    throw new Error(`${argv.join(' ')} failed: ${result.stderr}`)
  return ms
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`

const cluster = new TestCluster(['a', 'b', 'c'])
const single = `kvmctl-bench-one-${process.pid}`
const dir = mkdtempSync('/tmp/kb-')
try {
  execFileSync('ip', ['netns', 'add', single])
  for (let i = 0; i < 100 && !cluster.hosts.every((h) => cluster.ssh(h.name, ['true']).status === 0); i++)
    await new Promise((resolve) => setTimeout(resolve, 200))
  const across = `${dir}/across.yaml`
  writeFileSync(across, lab('across', cluster.hostsYaml().split('\n'), ['a', 'b', 'c'], 10))
  const one = `${dir}/one.yaml`
  writeFileSync(one, lab('one', [], [null], 30))
  const share = `${dir}/share.yaml`
  writeFileSync(share, lab('share', [], [null], 10))
  // One host's share planned alone over ssh: about what a plan of the three costs when each host
  // has CPUs of its own (here they share two).
  const alone = `${dir}/alone.yaml`
  writeFileSync(
    alone,
    lab('alone', cluster.hostsYaml(['a']).split('\n'), ['a'], 10).replace('10.77.', '10.79.'),
  )
  const controller = (...args: string[]) => [
    BIN,
    ...args,
    '--ssh-config',
    cluster.sshConfig,
    '--state-dir',
    `${dir}/controller`,
  ]
  const local = (...args: string[]) => [BIN, ...args, '--state-dir', `${dir}/one`]

  const shareApply = timed(single, local('apply', '-f', share, '--auto-approve'))
  timed(single, local('destroy', '-f', share, '--auto-approve'))
  // The first apply copies the boot files into each host's image cache; the next ones find them.
  const acrossFirst = timed(cluster.controller, controller('apply', '-f', across, '--auto-approve'))
  timed(cluster.controller, controller('destroy', '-f', across, '--auto-approve'))
  const acrossApply = timed(cluster.controller, controller('apply', '-f', across, '--auto-approve'))
  const oneApply = timed(single, local('apply', '-f', one, '--auto-approve'))

  // One host's share applied over ssh, alone: what each host of a real cluster, with CPUs of its
  // own, would take for its part of the apply across hosts.
  const aloneApply = timed(cluster.controller, controller('apply', '-f', alone, '--auto-approve'))
  const plans = { across: [] as number[], one: [] as number[], alone: [] as number[] }
  const cpu = { across: [] as number[], one: [] as number[] }
  for (let i = 0; i < ROUNDS; i++) {
    plans.alone.push(timed(cluster.controller, controller('plan', '-f', alone, '--detailed-exitcode')))
    plans.across.push(
      timed(cluster.controller, controller('plan', '-f', across, '--detailed-exitcode'), cpu.across),
    )
    plans.one.push(timed(single, local('plan', '-f', one, '--detailed-exitcode'), cpu.one))
  }
  timed(cluster.controller, controller('destroy', '-f', alone, '--auto-approve'))
  const acrossDestroy = timed(cluster.controller, controller('destroy', '-f', across, '--auto-approve'))
  timed(single, local('destroy', '-f', one, '--auto-approve'))

  console.log(
    `kvmctl across hosts (3 netns hosts over OpenSSH, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores)`,
  )
  console.log(
    `no-op plan, 30 VMs: 3 hosts ${fmt(median(plans.across))} (min ${fmt(Math.min(...plans.across))})   one host ${fmt(median(plans.one))} (min ${fmt(Math.min(...plans.one))})   ratio ${(median(plans.across) / median(plans.one)).toFixed(2)}`,
  )
  console.log(
    `  one host's share (10 VMs) alone over ssh ${fmt(median(plans.alone))}: ratio ${(median(plans.alone) / median(plans.one)).toFixed(2)} to the 30 VMs on one host`,
  )
  console.log(
    `  CPU of the whole machine per plan: 3 hosts ${fmt(median(cpu.across))}   one host ${fmt(median(cpu.one))}`,
  )
  console.log(
    `apply from empty: 3 hosts x 10 VMs ${fmt(acrossApply)}   the 30 VMs on one host ${fmt(oneApply)}   one host's share (10 VMs) alone ${fmt(shareApply)}   destroy across ${fmt(acrossDestroy)}`,
  )
  console.log(
    `  one host's share (10 VMs) applied alone over ssh: ${fmt(aloneApply)}, against ${fmt(shareApply)} without ssh`,
  )
  console.log(
    `  the first apply across, which copies the kernel and initrd into each host's image cache: ${fmt(acrossFirst)}`,
  )
} finally {
  removeNetns(single)
  cluster.cleanup()
  rmSync(dir, { recursive: true, force: true })
}
