/**
 * kvmctl's speed on a real host (root; not a test: it prints figures and asserts nothing).
 *   npm run bench
 *   KVMCTL_BENCH_BASELINE=/path/to/other/bin/run.js npm run bench     (A/B against another build)
 * In a scratch network namespace: labs of 1, 10, 50 and 300 paused VMs (QEMU -S, so that TCG
 * guests do not fight for the cores). For each: `plan` with nothing to change (whole process,
 * median of 15), apply from empty (until every QEMU answers QMP) and destroy. With a baseline,
 * the same lab is applied and planned by the baseline too, its plans interleaved with this
 * build's (this machine's speed drifts within minutes). For 10 VMs also a
 * plain bash script that runs the same ip, qemu-img and qemu-system-x86_64 commands one after
 * another, and its teardown; and the same for 10 running VMs, whose guests boot while the later
 * ones start (the "for scale" figures are of such a script).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { drivesOf } from '../src/apply/host-steps.js'
import { topologyFromText } from '../src/config/index.js'
import { qemuArgv } from '../src/host/qemu-argv.js'
import { ownershipMarker } from '../src/model/names.js'
import { removeNetns } from '../test/helpers/netns.js'

const ROOT = new URL('../../', import.meta.url).pathname
const BIN = `${ROOT}bin/run.js`
const BASELINE = process.env.KVMCTL_BENCH_BASELINE
const netns = `kvmctl-bench-${process.pid}`
const dir = mkdtempSync('/tmp/kb-')
const state = `${dir}/s`

function lab(name: string, vms: number, state = 'paused'): string {
  const lines = [
    `name: ${name}`,
    'defaults: { memory: 64M, shutdown_timeout: 1s }',
    `images: { tiny: { kernel: ${ROOT}examples/guest/vmlinuz, initrd: ${ROOT}examples/guest/initrd.gz, cmdline: console=ttyS0 } }`,
    'networks: { lan: { cidr: 10.77.0.0/16 } }',
    'vms:',
  ]
  for (let i = 0; i < vms; i++)
    lines.push(`  vm${i}: { image: tiny, state: ${state}, nics: [{ network: lan }] }`)
  return `${lines.join('\n')}\n`
}

function timed(argv: string[]): number {
  const began = process.hrtime.bigint()
  const result = spawnSync('ip', ['netns', 'exec', netns, ...argv], { encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - began) / 1e6
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr}`)
  return ms
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`

/** The same host commands as kvmctl's, one after another, as a person would script them. */
function bashScripts(file: string, text: string): { up: string; down: string } {
  const t = topologyFromText(file, text, `${dir}/bash`)
  const up = ['set -e', `mkdir -p ${t.labDir}/disks`]
  const down = ['set +e']
  for (const n of t.networks) {
    up.push(
      `ip link add name ${n.bridge} type bridge`,
      `ip link set dev ${n.bridge} alias ${ownershipMarker(t, n.address)} up`,
    )
    up.push(`ip addr add ${n.hostAddress} dev ${n.bridge}`)
  }
  for (const tap of t.taps) {
    up.push(
      `ip tuntap add dev ${tap.device} mode tap vnet_hdr`,
      `ip link set dev ${tap.device} master ${tap.bridge} up`,
    )
  }
  for (const vm of t.vms) {
    const boot = t.disks.find((d) => d.address === vm.bootDisk)!
    up.push(`qemu-img create -q -f qcow2 ${boot.path} 1G`, `mkdir -p ${vm.runDir}`)
    const argv = qemuArgv(t.lab, vm, drivesOf(vm, t), { kvm: false, accelOverride: 'tcg' })
      .map((a) => (a.startsWith('on,obsolete') ? 'on' : a))
      .map((a) => `'${a}'`)
    up.push(`${argv.join(' ')} -daemonize`)
    down.push(`kill $(cat ${vm.runDir}/qemu.pid)`)
  }
  for (const tap of t.taps) down.push(`ip link del ${tap.device}`)
  for (const n of t.networks) down.push(`ip link del ${n.bridge}`)
  down.push(`rm -rf ${t.labDir}`)
  return { up: up.join('\n'), down: down.join('\n') }
}

/** The bash script's bring-up and teardown of the same lab, as a row of figures. */
function bashRow(file: string, text: string, name: string, label: string): string {
  const scripts = bashScripts(file, text.replace(`name: ${name}`, 'name: bashlab'))
  writeFileSync(`${dir}/up.sh`, scripts.up)
  writeFileSync(`${dir}/down.sh`, scripts.down)
  const up = timed(['bash', `${dir}/up.sh`])
  const down = timed(['bash', `${dir}/down.sh`])
  return `${label}: up ${fmt(up)}   teardown ${fmt(down)}`
}

try {
  execFileSync('ip', ['netns', 'add', netns])
  const rows: string[] = []
  for (const n of [1, 10, 50, 300]) {
    const name = `bench${n}`
    const file = `${dir}/${name}.yaml`
    const text = lab(name, n)
    writeFileSync(file, text)
    const runs = n === 300 ? 7 : 15
    const apply = timed([BIN, 'apply', '-f', file, '--state-dir', state, '--auto-approve'])
    // The baseline gets a lab of its own (its state files may differ), in its own state dir.
    const base = BASELINE ? `${dir}/base.yaml` : null
    if (base) {
      writeFileSync(base, text.replace(`name: ${name}`, `name: base${n}`).replace('10.77.', '10.78.'))
      timed([BASELINE!, 'apply', '-f', base, '--state-dir', `${state}b`, '--auto-approve'])
    }
    const plans: number[] = []
    const basePlans: number[] = []
    for (let i = 0; i < runs; i++) {
      plans.push(timed([BIN, 'plan', '-f', file, '--state-dir', state, '--detailed-exitcode']))
      if (base)
        basePlans.push(
          timed([BASELINE!, 'plan', '-f', base, '--state-dir', `${state}b`, '--detailed-exitcode']),
        )
    }
    const destroy = timed([BIN, 'destroy', '-f', file, '--state-dir', state, '--auto-approve'])
    if (base) timed([BASELINE!, 'destroy', '-f', base, '--state-dir', `${state}b`, '--auto-approve'])
    rows.push(
      `${String(n).padStart(3)} VMs   plan ${fmt(median(plans))} (min ${fmt(Math.min(...plans))})   apply ${fmt(apply)}   destroy ${fmt(destroy)}`,
    )
    if (base)
      rows.push(`         baseline plan ${fmt(median(basePlans))} (min ${fmt(Math.min(...basePlans))})`)
    if (n === 10) {
      rows.push(bashRow(file, text, name, '         bash script'))
      const running = `${dir}/running.yaml`
      const runningText = lab('running10', 10, 'running')
      writeFileSync(running, runningText)
      const up = timed([BIN, 'apply', '-f', running, '--state-dir', state, '--auto-approve'])
      const down = timed([BIN, 'destroy', '-f', running, '--state-dir', state, '--auto-approve'])
      rows.push(` 10 running VMs        apply ${fmt(up)}   destroy ${fmt(down)}`)
      rows.push(bashRow(running, runningText, 'running10', '         bash script'))
    }
  }
  const version = spawnSync('node', ['--version'], { encoding: 'utf8' }).stdout.trim()
  console.log(
    `kvmctl benchmark (node ${version}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores)`,
  )
  for (const row of rows) console.log(row)
} finally {
  removeNetns(netns)
  rmSync(dir, { recursive: true, force: true })
}
