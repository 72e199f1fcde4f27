import type { HostSnapshot } from '../model/snapshot.js'
import type { LabHost, Topology } from '../model/types.js'
import type { Plan } from '../plan/types.js'

/**
 * The JSON-lines protocol between a controller and `kvmctl agent` on each host of a lab that
 * spans hosts: one request per line on the agent's stdin, one response per line on its stdout,
 * matched by id. Everything else the agent says (download progress) goes to its stderr.
 */
export interface Request {
  readonly id: number
  readonly op: keyof Operations
  readonly args: unknown
}

export type Response =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: number
      readonly ok: false
      readonly error: { readonly message: string; readonly hint?: string }
    }

/** What the agent tells first: the controller refuses a host whose kvmctl is not its own. */
export interface Hello {
  readonly version: string
  /** sha256 of the kvmctl bundle that runs there. */
  readonly bundle: string
  readonly stateDir: string
  /** The link that holds the host's underlay address, when one was given, and its MTU. */
  readonly underlayDev: string | null
  readonly underlayMtu: number | null
  /** The hosts the lab spanned at its last apply on this host (its record). */
  readonly formerHosts: readonly LabHost[]
}

/** The operations of a host, in the order a controller calls them. */
export interface Operations {
  hello(args: { lab: string; underlay: string | null }): Promise<Hello>
  /** The lab's lock on this host, held until the session ends. */
  lock(args: { lab: string; timeout: number }): Promise<{ pid: number }>
  observe(args: { topology: Topology; everyQemu: boolean }): Promise<HostSnapshot>
  /** Before the first step: the images downloaded, the step handlers made. */
  prepare(args: { plan: Plan }): Promise<{ tcg: boolean }>
  /** The lab's record on this host, naming `hosts` as the ones it spans; returns its expiry. */
  record(args: { ttlSeconds: number | null; hosts: readonly LabHost[] }): Promise<string | null>
  step(args: { address: string }): Promise<null>
  finish(args: Record<string, never>): Promise<null>
  offsets(args: Record<string, never>): Promise<Record<string, number>>
  wait(args: { since: Record<string, number> }): Promise<null>
}

export const OPERATIONS: readonly (keyof Operations)[] = [
  'hello',
  'lock',
  'observe',
  'prepare',
  'record',
  'step',
  'finish',
  'offsets',
  'wait',
]
