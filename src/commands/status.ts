import { isReady, notYetReady, probeOnce } from '../apply/ready.js'
import { listSnapshots } from '../apply/snapshots.js'
import { BaseCommand } from '../base-command.js'
import { settleImages } from '../config/resolve.js'
import { labLeases, vmAddresses } from '../host/addresses.js'
import { observe } from '../host/observe.js'
import { swtpmRunning } from '../host/tpm-ops.js'
import { PlanError } from '../lib/errors.js'
import { escapeControl } from '../lib/terminal.js'
import { formatSize } from '../lib/units.js'
import { nvramOf, vmFiles } from '../model/layout.js'
import { forwardText } from '../model/ports.js'
import { type Observed, observedOf } from '../model/snapshot.js'
import type { Topology, Vm } from '../model/types.js'
import { diff } from '../plan/diff.js'
import { redactPlan } from '../plan/redact.js'
import { show } from '../render/plan-text.js'
import { renderTable } from '../render/table.js'
import { showSensitiveFlag } from './plan.js'

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'What the host has for this lab now: VMs, networks, taps, disks, and drift.'
  static override examples = [
    '<%= config.bin %> status -f examples/quickstart.yaml',
    '<%= config.bin %> status --json | jq .vms',
  ]
  static override flags = { 'show-sensitive': showSensitiveFlag }

  async run(): Promise<void> {
    const loaded = await this.topology()
    const snapshot = await observe(loaded)
    const topology = settleImages(loaded, snapshot.digests)
    const found = snapshot.resources
    let drift: { address: string; action: string; changes: string[] }[] = []
    let problems: string[] = []
    try {
      const plan = diff(topology, snapshot)
      drift = (this.flags['show-sensitive'] ? plan : redactPlan(plan, topology)).actions.map((a) => ({
        address: a.address,
        action: a.action,
        changes: a.changes.map((c) => `${c.field}: ${show(c.before)} → ${show(c.after)}`),
      }))
    } catch (error) {
      if (!(error instanceof PlanError)) throw error
      problems = error.problems.map((p) => `${p.address}: ${p.message}`)
    }
    const leasesByNetwork = await labLeases(topology)
    const readiness = await Promise.all(
      topology.vms.map((vm) => readinessNow(topology, vm, observedOf(snapshot, vm.address, 'vm'))),
    )
    const vms = topology.vms.map((vm, index) => {
      const o = observedOf(snapshot, vm.address, 'vm')
      return {
        name: vm.name,
        labels: vm.labels,
        state: o ? String(o.fields.state) : 'absent',
        pid: (o?.handle.pid as number | null | undefined) ?? null,
        cpus: o ? Number(o.fields.cpus) : vm.cpus,
        memory: o ? String(o.fields.memory) : `${vm.memoryMiB}M`,
        links: vm.nics.map((nic) => ({
          nic: `${vm.name}:${nic.name}`,
          link: o && (o.fields.links as readonly string[]).includes(`${nic.name} down`) ? 'down' : 'up',
        })),
        firmware: vm.firmware,
        secure_boot: vm.secureBoot,
        nvram: nvramOf(vm),
        tpm: vm.tpm ? { running: swtpmRunning(vm.runDir), state: vmFiles(vm.runDir).tpmState } : null,
        ips: vmAddresses(topology, vm, leasesByNetwork),
        ready: readiness[index]!,
        console: vmFiles(vm.runDir).serial,
        console_log: vmFiles(vm.runDir).log,
      }
    })
    const networks = topology.networks.map((n) => {
      const o = observedOf(snapshot, n.address, 'network')
      return {
        name: n.name,
        bridge: n.bridge,
        external: n.external,
        present: n.external
          ? !snapshot.problems.some((p) => p.address === n.address)
          : Boolean(found[n.address]),
        address: (o?.handle.hostAddress as string | null | undefined) ?? null,
        cidr: n.cidr,
        dhcp: o?.fields.dhcp === true,
        nat: o?.fields.nat === true,
        leases: leasesByNetwork.get(n.name) ?? [],
      }
    })
    // Forwards as the lab's firewall has them (observed), each marked whether the topology wants it.
    const forwards = topology.vms.flatMap((vm) => {
      const o = observedOf(snapshot, vm.address, 'vm')
      const present = new Set((o?.fields.ports as readonly string[] | undefined) ?? [])
      return vm.ports.map((p) => ({
        vm: vm.name,
        host: `${p.listen ?? '*'}:${p.hostPort}/${p.protocol}`,
        guest: `${p.guestIp}:${p.guestPort}`,
        present: present.has(forwardText(p, p.guestIp)),
      }))
    })
    const taps = topology.taps.map((t) => ({
      name: t.name,
      device: t.device,
      present: Boolean(found[t.address]),
      bridge: observedOf(snapshot, t.address, 'tap')?.fields.bridge ?? null,
      mac: t.mac,
    }))
    const disks = topology.disks.map((d) => {
      const o = observedOf(snapshot, d.address, 'disk')
      return {
        name: d.name,
        present: Boolean(o),
        size: o?.fields.size ?? null,
        used: o ? formatUsed(Number(o.handle.actualBytes)) : null,
        format: d.format,
        path: d.path,
      }
    })
    // Records only, and the disks' snapshot tables: no process.
    const snapshots = listSnapshots(topology).snapshots.map((snap) => ({
      name: snap.name,
      created: snap.created,
      vms: snap.vms.map((v) => v.vm),
      memory: snap.vms.some((v) => v.memory),
      complete: snap.vms.every((v) => v.complete),
    }))
    const status = {
      lab: topology.lab,
      state_dir: topology.labDir,
      vms,
      networks,
      taps,
      disks,
      ports: forwards,
      snapshots,
      drift,
      problems,
    }
    if (this.flags.json) return this.printJson(status)

    const s = this.style
    const dash = (v: unknown) => (v === null || v === undefined || v === '' ? '-' : String(v))
    const lines = [`Lab ${s.bold(topology.lab)}  (${topology.labDir})`, '']
    lines.push(
      renderTable(
        ['VM', 'STATE', 'READY', 'PID', 'CPUS', 'MEMORY', 'IP', 'CONSOLE'],
        vms.map((v) => [
          v.name,
          colourState(v.state, s),
          v.ready === null ? '-' : v.ready ? s.green('yes') : s.yellow('no'),
          dash(v.pid),
          String(v.cpus),
          v.memory,
          dash(v.ips.join(',')),
          v.console,
        ]),
      ),
      '',
      renderTable(
        ['NETWORK', 'BRIDGE', 'ADDRESS', 'DHCP', 'NAT', 'PRESENT'],
        networks.map((n) => [
          n.name,
          n.bridge + (n.external ? ' (external)' : ''),
          dash(n.address),
          n.dhcp ? `yes (${n.leases.length} lease${n.leases.length === 1 ? '' : 's'})` : 'no',
          n.nat ? 'yes' : 'no',
          n.present ? 'yes' : 'no',
        ]),
      ),
    )
    if (taps.length > 0) {
      lines.push(
        '',
        renderTable(
          ['TAP', 'DEVICE', 'BRIDGE', 'MAC'],
          taps.map((t) => [t.name, t.device, dash(t.bridge), t.mac]),
        ),
      )
    }
    lines.push(
      '',
      renderTable(
        ['DISK', 'SIZE', 'USED', 'FORMAT', 'PATH'],
        disks.map((d) => [d.name, dash(d.size), dash(d.used), d.format, d.path]),
      ),
      '',
    )
    if (forwards.length > 0) {
      lines.push(
        renderTable(
          ['PORT', 'VM', 'TO', 'PRESENT'],
          forwards.map((f) => [f.host, f.vm, f.guest, f.present ? 'yes' : s.yellow('no')]),
        ),
        '',
      )
    }
    if (snapshots.length > 0) {
      lines.push(
        renderTable(
          ['SNAPSHOT', 'CREATED', 'VMS', 'SAVED'],
          snapshots.map((n) => [
            n.name,
            n.created.slice(0, 19).replace('T', ' '),
            n.vms.join(', '),
            (n.memory ? 'memory + disks' : 'disks') + (n.complete ? '' : s.red(' (incomplete)')),
          ]),
        ),
        '',
      )
    }
    if (problems.length > 0) lines.push(s.red('Problems:'), ...problems.map((p) => `  ${escapeControl(p)}`))
    else if (drift.length === 0) lines.push(s.green('No drift: the host matches the topology.'))
    else {
      lines.push(
        s.yellow(
          `Drift: ${drift.length} difference${drift.length === 1 ? '' : 's'} (\`kvmctl apply\` repairs them):`,
        ),
      )
      for (const d of drift)
        lines.push(`  ${d.address}: ${d.action}${d.changes.length ? ` (${d.changes.join('; ')})` : ''}`)
    }
    this.say(lines.join('\n'))
  }
}

function colourState(state: string, s: BaseCommand<typeof Status>['style']): string {
  if (state === 'running') return s.green(state)
  if (state === 'paused') return s.yellow(state)
  return s.red(state)
}

function formatUsed(bytes: number): string {
  if (bytes < 1024 ** 2) return `${Math.ceil(bytes / 1024)}K`
  return formatSize(Math.ceil(bytes / 1024 ** 2) * 1024 ** 2)
}

/**
 * How long status gives a VM's ssh probe: `cloud-init status` alone takes seconds in a guest
 * without KVM (Python starting under TCG).
 */
const STATUS_PROBE_MS = 20_000

/**
 * Is a running VM ready now, by its `ready:` probes (one round)? null for
 * a VM without a ready block or not running.
 */
async function readinessNow(
  topology: Topology,
  vm: Vm,
  observed: Observed<'vm'> | undefined,
): Promise<boolean | null> {
  if (!vm.ready || observed?.fields.state !== 'running') return null
  try {
    return isReady(await probeOnce(topology, vm, 0, notYetReady(vm), Date.now() + STATUS_PROBE_MS))
  } catch {
    return false
  }
}
