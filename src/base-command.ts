import { Command } from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'
import * as Flags from '@oclif/core/flags'
import type * as Interfaces from '@oclif/core/interfaces'
import type { ChalkInstance } from 'chalk'
import { withBootFiles } from './cluster/file-digests.js'
import { type LoadedTopology, loadTopology } from './config/index.js'
import { listLinks } from './host/links.js'
import { KvmctlError } from './lib/errors.js'
import { didYouMean } from './lib/suggest.js'
import { LOCAL_SSH, partOn } from './model/placement.js'
import type { Tap, Topology, Vm } from './model/types.js'
import { makeStyle } from './render/style.js'
import { reportError } from './report-error.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>

/**
 * What every command shares: the topology and state directory flags, --json and --no-color,
 * and one place where errors are printed (message and hint, a stack only with KVMCTL_DEBUG=1).
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    file: Flags.string({
      char: 'f',
      summary: 'The topology file.',
      default: 'kvmctl.yaml',
      helpGroup: 'GLOBAL',
    }),
    'state-dir': Flags.string({
      summary: "Where the lab's disks, pid files and sockets live.",
      env: 'KVMCTL_STATE_DIR',
      default: '/var/lib/kvmctl',
      helpGroup: 'GLOBAL',
    }),
    host: Flags.string({
      summary:
        'A lab with hosts: the host whose part to work on, on this machine (default: the one with ssh: local). plan, apply and destroy work on every host.',
      env: 'KVMCTL_HOST',
      helpGroup: 'GLOBAL',
    }),
    json: Flags.boolean({ summary: 'Machine-readable output on stdout.', helpGroup: 'GLOBAL' }),
    'no-color': Flags.boolean({ summary: 'No colours (also NO_COLOR=1).', helpGroup: 'GLOBAL' }),
  }

  protected flags!: BaseFlags<T>
  protected args!: Interfaces.InferredArgs<T['args']>
  protected style!: ChalkInstance

  override async init(): Promise<void> {
    await super.init()
    const { flags, args } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof BaseCommand).baseFlags,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as Interfaces.InferredArgs<T['args']>
    this.style = makeStyle({ color: !this.flags['no-color'] })
  }

  /**
   * The topology this command works on: the lab, or, for a lab with hosts:, this machine's part
   * of it (`--host`, else the host with ssh: local), as that host's own agent would see it.
   */
  protected async topology(): Promise<Topology> {
    const { topology } = await this.loaded()
    if (topology.hosts.length === 0) return topology
    const name = this.flags.host ?? topology.hosts.find((h) => h.ssh === LOCAL_SSH)?.name
    const host = topology.hosts.find((h) => h.name === name)
    if (!host)
      throw new KvmctlError(
        `lab "${topology.lab}" spans hosts (${topology.hosts.map((h) => h.name).join(', ')})${name ? `, and "${name}" is none of them` : ''}: \`kvmctl ${this.id}\` works on one host's part, on that host`,
        'run it on the host, with --host NAME (and its --state-dir); plan, apply and destroy work on every host from here',
      )
    const links = host.underlay ? await listLinks() : []
    const underlayDev =
      links.find((l) => l.addresses.some((a) => a.split('/')[0] === host.underlay))?.name ?? null
    const part = partOn(topology, host.name, new Map([[host.name, { underlayDev }]]))
    // The controller placed this host's boot files in its image cache by content: the same files
    // here are found there (one that cannot be read here stays as named, and observe says so).
    return host.ssh === LOCAL_SSH ? part : (await withBootFiles(part)).part
  }

  /** The topology, and how to have it with another host's state directory (a lab with hosts:). */
  protected loaded(): Promise<LoadedTopology> {
    return loadTopology(this.flags.file, this.flags['state-dir'])
  }

  /** A VM of the topology by name, or an error that suggests the nearest name. */
  protected vmNamed(topology: Topology, name: string): Vm {
    const vm = topology.vms.find((v) => v.name === name)
    if (vm) return vm
    throw new KvmctlError(
      `lab "${topology.lab}" has no VM "${name}"${didYouMean(
        name,
        topology.vms.map((v) => v.name),
      )}`,
    )
  }

  /**
   * A NIC as `VM:NIC`: NIC is its name in the guest (eth0, or nics[].name) or its index. The
   * tap that carries it, whose device is where its frames can be seen on the host.
   */
  protected nicNamed(topology: Topology, endpoint: string): Tap {
    const colon = endpoint.lastIndexOf(':')
    if (colon < 1)
      throw new KvmctlError(
        `"${endpoint}" is not VM:NIC`,
        'name a NIC as VM:NAME (web:eth0) or VM:INDEX (web:0)',
      )
    const vm = this.vmNamed(topology, endpoint.slice(0, colon))
    const nic = endpoint.slice(colon + 1)
    const taps = topology.taps.filter((t) => t.vm === vm.name)
    const tap = taps.find((t) => t.guestName === nic || String(t.index) === nic)
    if (tap) return tap
    throw new KvmctlError(
      `vm/${vm.name} has no NIC "${nic}"${didYouMean(
        nic,
        taps.map((t) => t.guestName),
      )}`,
      taps.length > 0
        ? `its NICs: ${taps.map((t) => `${vm.name}:${t.guestName}`).join(', ')}`
        : 'it has no NICs',
    )
  }

  /** How the core reports to this command's user: JSON or not, colours, text for people. */
  protected output() {
    return { json: this.flags.json, style: this.style, say: (text: string) => this.say(text) }
  }

  /** Data for machines: one JSON document on stdout. */
  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** Messages for people: stderr when stdout is taken by --json. */
  protected say(text: string): void {
    if (this.flags?.json) process.stderr.write(`${text}\n`)
    else process.stdout.write(`${text}\n`)
  }

  override async catch(error: Error): Promise<void> {
    // oclif's own exit (this.exit) passes through untouched.
    if (error instanceof Errors.ExitError) throw error
    reportError(error, { json: process.argv.includes('--json'), color: !process.argv.includes('--no-color') })
  }
}
