import type { ChalkInstance } from 'chalk'
import { KvmctlError, type PlanProblem } from '../lib/errors.js'
import { packageVersion } from '../lib/package.js'
import { type HostFacts, LOCAL_SSH, partOn } from '../model/placement.js'
import type { HostSnapshot } from '../model/snapshot.js'
import type { LabHost, Topology } from '../model/types.js'
import { type HostPart, planAcross } from '../plan/across-hosts.js'
import { topologyHash } from '../plan/fingerprint.js'
import type { Plan } from '../plan/types.js'
import { withBootFiles } from './file-digests.js'
import { bundleHash } from './host-side.js'
import { copyKvmctl } from './install.js'
import type { Hello, Operations } from './protocol.js'
import { putFiles } from './put.js'
import { HostLostError, HostSession } from './session.js'
import { learnControlPath } from './ssh.js'

export interface AcrossHostsOptions {
  /** The topology as loaded here (its hosts), and the same for another state directory. */
  readonly topology: Topology
  readonly at: (stateDir: string) => Topology
  /** --ssh-config / KVMCTL_SSH_CONFIG: an ssh_config instead of the user's. */
  readonly sshConfig: string | null
  /** --copy-kvmctl: copy this kvmctl to a host that has none or another build. */
  readonly copyKvmctl: boolean
  /** Whether this is a destroy: it boots nothing, so no boot file is hashed or copied. */
  readonly destroy: boolean
  readonly style: ChalkInstance
}

interface Reached {
  readonly host: LabHost
  /** A host of the lab's last apply that is no longer in hosts: its part goes. */
  readonly leaving: boolean
  readonly session: HostSession | null
  readonly hello: Hello | null
  readonly unreachable: string | null
}

/**
 * A lab's hosts as one controller sees them: a session with each host's `kvmctl agent` (ssh, or
 * a child process for `local`), opened in parallel and checked to run this very kvmctl; each
 * host's part of the lab with that host's state directory.
 */
export class LabHosts {
  private constructor(
    private readonly options: AcrossHostsOptions,
    private readonly reached: readonly Reached[],
    readonly parts: ReadonlyMap<string, Topology>,
    /** Boot files this machine cannot read for a host's part: problems of that host's plan. */
    private readonly fileProblems: ReadonlyMap<string, readonly PlanProblem[]>,
  ) {}

  static async connect(options: AcrossHostsOptions): Promise<LabHosts> {
    const { topology } = options
    const members = await reachAll(topology.hosts, false, options)
    // Hosts the lab spanned at its last apply that it spans no more: reached too, to clean them.
    const names = new Set(topology.hosts.map((h) => h.name))
    const leaving = new Map<string, LabHost>()
    for (const former of members.flatMap((m) => m.hello?.formerHosts ?? []))
      if (!names.has(former.name) && !leaving.has(former.name)) leaving.set(former.name, former)
    const reached = [
      ...members,
      ...(await reachAll([...leaving.values()], true, options).catch(closing(members))),
    ]
    try {
      checkVersions(reached)
    } catch (error) {
      await closing(reached)(error)
    }
    const facts = new Map<string, HostFacts>(
      reached.map((r) => [r.host.name, { underlayDev: r.hello?.underlayDev ?? null }]),
    )
    const parts = new Map<string, Topology>()
    const fileProblems = new Map<string, PlanProblem[]>()
    for (const r of reached) {
      const stateDir = r.hello?.stateDir ?? r.host.stateDir ?? topology.stateDir
      const whole = stateDir === topology.stateDir ? topology : options.at(stateDir)
      let part = partOn(whole, r.host.name, facts)
      // Another machine boots from copies of this one's files, in its image cache.
      if (r.host.ssh !== LOCAL_SSH && !options.destroy) {
        const placed = await withBootFiles(part)
        part = placed.part
        fileProblems.set(r.host.name, placed.problems)
      }
      parts.set(r.host.name, part)
    }
    return new LabHosts(options, reached, parts, fileProblems)
  }

  private reachable(): Reached[] {
    return this.reached.filter((r) => r.session !== null)
  }

  private session(host: string): HostSession {
    const session = this.reached.find((r) => r.host.name === host)?.session
    if (!session) throw new KvmctlError(`host ${host} is not reachable`)
    return session
  }

  /** The lab's lock on every host, one after another in the order of their names: two controllers never hold half each. */
  async lock(timeout: number): Promise<void> {
    const ordered = [...this.reachable()].sort((a, b) => (a.host.name < b.host.name ? -1 : 1))
    for (const r of ordered) {
      try {
        await r.session!.request('lock', { lab: this.options.topology.lab, timeout })
      } catch (error) {
        throw new KvmctlError(`host ${r.host.name}: ${(error as Error).message}`, (error as KvmctlError).hint)
      }
    }
  }

  /** The hosts of these names as the lab knows them (hosts:, or the record of a leaving one). */
  described(names: readonly string[]): LabHost[] {
    return names.flatMap((n) => this.reached.find((r) => r.host.name === n)?.host ?? [])
  }

  /** The hosts that leave the lab (reachable ones): what they had goes, their records too. */
  leaving(): string[] {
    return this.reachable()
      .filter((r) => r.leaving)
      .map((r) => r.host.name)
  }

  /** Every reachable host observed at once; what each has, by host. */
  async observe(everyQemu: boolean): Promise<Map<string, HostSnapshot>> {
    const found = await Promise.all(
      this.reachable().map(async (r) => {
        try {
          const part = this.parts.get(r.host.name)!
          return [r.host.name, await r.session!.request('observe', { topology: part, everyQemu })] as const
        } catch (error) {
          throw new KvmctlError(
            `host ${r.host.name}: ${(error as Error).message}`,
            (error as KvmctlError).hint,
          )
        }
      }),
    )
    return new Map(found)
  }

  /** The plan across the hosts (format_version 2). */
  plan(
    snapshots: ReadonlyMap<string, HostSnapshot>,
    options: { targets?: readonly string[]; destroy?: boolean },
  ): Plan {
    const parts: HostPart[] = this.reached.map((r) => ({
      host: r.host,
      topology: this.parts.get(r.host.name)!,
      snapshot: snapshots.get(r.host.name) ?? null,
      version: r.hello?.version ?? null,
      underlayMtu: r.hello?.underlayMtu ?? null,
      unreachable: r.unreachable,
      leaving: r.leaving,
      problems: this.fileProblems.get(r.host.name) ?? [],
    }))
    return planAcross(this.options.topology.lab, topologyHash(this.options.topology), parts, options)
  }

  /**
   * Before the first step: the boot files each of these hosts lacks (its observe said which)
   * copied from this machine, the hosts at once, a host's files one after another.
   */
  async putBootFiles(names: readonly string[], snapshots: ReadonlyMap<string, HostSnapshot>): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        const r = this.reached.find((x) => x.host.name === name)!
        const missing = new Set(snapshots.get(name)?.puts ?? [])
        const puts = (this.parts.get(name)!.puts ?? []).filter((p) => missing.has(p.path))
        if (puts.length > 0)
          await putFiles(r.host, r.hello!.stateDir, puts, this.options.sshConfig, (line) =>
            process.stderr.write(`${line}\n`),
          )
      }),
    )
  }

  request<K extends keyof Operations>(
    host: string,
    op: K,
    args: Parameters<Operations[K]>[0],
  ): ReturnType<Operations[K]> {
    return this.session(host).request(op, args)
  }

  /** The sessions end; each agent exits, and the lab's locks go with them. */
  async close(): Promise<void> {
    await Promise.all(this.reachable().map((r) => r.session!.close()))
  }
}

/** Every host reached at once; when one fails the run, the sessions with the others end too. */
async function reachAll(
  hosts: readonly LabHost[],
  leaving: boolean,
  options: AcrossHostsOptions,
): Promise<Reached[]> {
  const results = await Promise.allSettled(hosts.map((host) => reach(host, leaving, options)))
  const reached = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) await closing(reached)((failed as PromiseRejectedResult).reason)
  return reached
}

/** Ends these sessions, then throws `error`: an agent left running would keep kvmctl from exiting. */
const closing =
  (reached: readonly Reached[]) =>
  async (error: unknown): Promise<never> => {
    await Promise.all(reached.map((r) => r.session?.close()))
    throw error
  }

/** One kvmctl on every host: the protocol, the planner and the step handlers must agree. */
function checkVersions(reached: readonly Reached[]): void {
  const version = packageVersion()
  const bundle = bundleHash()
  for (const r of reached) {
    if (!r.hello || sameKvmctl(r.hello)) continue
    throw new KvmctlError(
      `host ${r.host.name} runs kvmctl ${r.hello.version} (bundle ${r.hello.bundle.slice(0, 12)}), this is kvmctl ${version} (bundle ${bundle.slice(0, 12)})`,
      `install this kvmctl on ${r.host.name} (or set hosts.${r.host.name}.kvmctl to the one to run), or pass --copy-kvmctl`,
    )
  }
}

/**
 * A session with a host, and its hello; a host that cannot be reached is kept with the reason.
 * A host without this kvmctl (none, or another build) is an error, or, with --copy-kvmctl, gets
 * this one copied and is reached again with it.
 */
async function reach(host: LabHost, leaving: boolean, options: AcrossHostsOptions): Promise<Reached> {
  const first = await hello(host, leaving, options)
  if (
    !options.copyKvmctl ||
    host.ssh === LOCAL_SSH ||
    (first.hello && sameKvmctl(first.hello)) ||
    (!first.hello && first.exitCode !== 127)
  )
    return first
  await first.session?.close()
  const copied = { ...host, kvmctl: await copyKvmctl(host, options.sshConfig) }
  const again = await hello(copied, leaving, options)
  if (again.hello && !sameKvmctl(again.hello))
    throw new KvmctlError(
      `host ${host.name}: the kvmctl copied there reports bundle ${again.hello.bundle.slice(0, 12)}, not ${bundleHash().slice(0, 12)}`,
      'check the disk and the Node.js of that host, and try again',
    )
  return again
}

async function hello(
  host: LabHost,
  leaving: boolean,
  options: AcrossHostsOptions,
): Promise<Reached & { exitCode: number | null }> {
  const { topology, style } = options
  if (host.ssh !== LOCAL_SSH) await learnControlPath(host.ssh, options.sshConfig)
  const session = new HostSession(host, {
    sshConfig: options.sshConfig,
    localStateDir: topology.stateDir,
    onStderr: (name, line) => process.stderr.write(`${style.dim(`[${name}]`)} ${line}\n`),
  })
  try {
    const hello = await session.request('hello', {
      lab: topology.lab,
      underlay: leaving ? null : host.underlay,
    })
    return { host, leaving, session, hello, unreachable: null, exitCode: null }
  } catch (error) {
    await session.close()
    // An agent that answered with an error (no such underlay address) was reached: the error is the user's to fix.
    if (!(error instanceof HostLostError))
      throw new KvmctlError(`host ${host.name}: ${(error as Error).message}`, (error as KvmctlError).hint)
    if (error.exitCode === 127 && !options.copyKvmctl)
      throw new KvmctlError(
        `host ${host.name}: there is no ${host.kvmctl} to run (${error.detail})`,
        `install this kvmctl there, set hosts.${host.name}.kvmctl to where it is, or pass --copy-kvmctl`,
      )
    return { host, leaving, session: null, hello: null, unreachable: error.detail, exitCode: error.exitCode }
  }
}

const sameKvmctl = (hello: Hello) => hello.version === packageVersion() && hello.bundle === bundleHash()
