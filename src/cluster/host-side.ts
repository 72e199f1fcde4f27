import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { downloadImages } from '../apply/downloads.js'
import type { StepRunner } from '../apply/executor.js'
import { hostStepRunner } from '../apply/host-steps.js'
import { consoleOffsets, waitReady } from '../apply/ready.js'
import { settleImages } from '../config/resolve.js'
import { probeCapabilities, runsUnderTcg } from '../host/accel.js'
import { recordedHosts, recordLab, removeStoppedLab } from '../host/labs.js'
import { type Link, listLinks } from '../host/links.js'
import { type HostLock, lockLab } from '../host/lock.js'
import { observe } from '../host/observe.js'
import { explainFsError, sweepTemporaries } from '../host/state.js'
import { KvmctlError } from '../lib/errors.js'
import { PACKAGE_ROOT, packageVersion } from '../lib/package.js'
import type { HostSnapshot } from '../model/snapshot.js'
import type { LabHost, Topology } from '../model/types.js'
import type { Plan } from '../plan/types.js'
import { makeStyle } from '../render/style.js'
import type { Hello, Operations } from './protocol.js'

/**
 * What one host does for a controller of a lab that spans hosts: the same observer, step
 * handlers and readiness probes as a lab of one host, on the part of the lab this host runs
 * (src/model/placement.ts). The controller drives it through `kvmctl agent`'s JSON lines, over
 * ssh or, for `local`, a child process: one code path whatever the host.
 */
export class HostSide implements Operations {
  private held: HostLock | null = null
  private topology: Topology | null = null
  private snapshot: HostSnapshot | null = null
  private plan: Plan | null = null
  private runner: StepRunner | null = null

  private readonly stateDir: string

  constructor(stateDir: string) {
    this.stateDir = resolve(stateDir)
  }

  async hello(args: { lab: string; underlay: string | null }): Promise<Hello> {
    let holder: Link | undefined
    if (args.underlay) {
      const links = await listLinks()
      holder = links.find((l) => l.addresses.some((a) => a.split('/')[0] === args.underlay))
      if (!holder)
        throw new KvmctlError(
          `no interface of this host has the underlay address ${args.underlay}`,
          'set hosts.NAME.underlay to an address of the host that the other hosts reach',
        )
    }
    return {
      version: packageVersion(),
      bundle: bundleHash(),
      stateDir: this.stateDir,
      underlayDev: holder?.name ?? null,
      underlayMtu: holder?.mtu ?? null,
      formerHosts: recordedHosts(this.stateDir, args.lab),
    }
  }

  async lock(args: { lab: string; timeout: number }): Promise<{ pid: number }> {
    this.held ??= await lockLab(args.lab, args.timeout)
    return { pid: process.pid }
  }

  async observe(args: { topology: Topology; everyQemu: boolean }): Promise<HostSnapshot> {
    // The controller resolved this host's part with the state directory hello gave it.
    if (args.topology.stateDir !== this.stateDir)
      throw new Error(
        `a part for state directory ${args.topology.stateDir}, but this agent keeps ${this.stateDir}`,
      )
    // Half-written files of an interrupted run are swept only under the lab's lock.
    if (this.held) sweepTemporaries(args.topology.labDir)
    this.snapshot = await observe(args.topology, { everyQemu: args.everyQemu })
    this.topology = settleImages(args.topology, this.snapshot.digests)
    return this.snapshot
  }

  /** Before the first step: the images to download, the step handlers. */
  async prepare(args: { plan: Plan }): Promise<{ tcg: boolean }> {
    const topology = this.observed()
    const snapshot = this.snapshot!
    const caps = await probeCapabilities()
    if (!args.plan.destroy)
      await downloadImages(topology, snapshot.downloads ?? [], makeStyle({ color: false }), (text) =>
        process.stderr.write(text),
      )
    this.plan = args.plan
    this.runner = hostStepRunner({ topology, plan: args.plan, snapshot, caps })
    return { tcg: runsUnderTcg(args.plan, topology, caps) }
  }

  async record(args: { ttlSeconds: number | null; hosts: readonly LabHost[] }): Promise<string | null> {
    return recordLab({ ...this.observed(), hosts: args.hosts }, args.ttlSeconds).catch((error) => {
      throw explainFsError(error)
    })
  }

  async step(args: { address: string }): Promise<null> {
    const action = this.plan?.actions.find((a) => a.address === args.address)
    if (!action || !this.runner) throw new Error(`no step ${args.address} in this host's plan`)
    await this.runner(action)
    return null
  }

  /** After a destroy of the whole lab, or on a host the lab left. */
  async finish(): Promise<null> {
    await removeStoppedLab(this.observed())
    return null
  }

  async offsets(): Promise<Record<string, number>> {
    return Object.fromEntries(await consoleOffsets(this.observed()))
  }

  async wait(args: { since: Record<string, number> }): Promise<null> {
    await waitReady(this.observed(), new Map(Object.entries(args.since)))
    return null
  }

  private observed(): Topology {
    if (!this.topology) throw new Error('observe first')
    return this.topology
  }
}

/** The sha256 of the running kvmctl's bundles: two hosts run the same kvmctl when theirs match. */
export function bundleHash(): string {
  const hash = createHash('sha256')
  try {
    for (const file of ['kvmctl.js', 'agent.js'])
      hash.update(readFileSync(`${PACKAGE_ROOT}dist/bundle/${file}`))
    return hash.digest('hex')
  } catch {
    return 'unbundled'
  }
}
