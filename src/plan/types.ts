import type { ObservedResource } from '../model/snapshot.js'
import type { Address, FieldValue, Resource, ResourceType } from '../model/types.js'

export type ActionKind = 'create' | 'update' | 'restart' | 'replace' | 'delete'
/** What a changed field does to its resource (docs/topology.md, "Change effects"). */
export type Effect = 'create' | 'in-place' | 'restart' | 'replace' | 'delete'

export interface Change {
  readonly field: string
  readonly before: FieldValue
  readonly after: FieldValue
  readonly effect: Effect
}

export interface Action {
  readonly address: Address
  readonly type: ResourceType
  readonly name: string
  readonly action: ActionKind
  readonly changes: readonly Change[]
  readonly destroys_data: boolean
  readonly depends_on: readonly Address[]
  /** The resource as it should be afterwards (null for a delete); apply also reads the topology. */
  readonly desired: Resource | null
  /** The resource as observed (null for a create). */
  readonly current: ObservedResource | null
  /** In a lab that spans hosts (format_version 2): the host it is done on. */
  readonly host?: string
}

/** A host of a lab that spans hosts, as the plan saw it. */
export interface PlanHost {
  readonly name: string
  readonly ssh: string
  /** Its kvmctl's version, or null when it was not reached. */
  readonly version: string | null
  readonly underlay: string | null
  /** A fingerprint of what was observed there: a saved plan refuses to apply when one changed. */
  readonly observed: string | null
  /** Why it was not observed (only a plan limited by --target goes on without it). */
  readonly unreachable: string | null
  /** A host of the lab's last apply that is no longer in hosts: all of the lab there goes. */
  readonly leaving: boolean
}

export type Summary = Readonly<Record<ActionKind, number>>

/** The versioned plan (docs/cli.md): the JSON output, the saved plan file, and what apply runs. */
export interface Plan {
  /** 1: a lab of one host; 2: a lab that spans hosts, with `hosts` and each action's `host`. */
  readonly format_version: 1 | 2
  readonly lab: string
  /** A fingerprint of the observed host; apply of a saved plan refuses when it changed. */
  readonly observed: string
  /** A hash of the resolved topology; apply of a saved plan refuses when the file changed. */
  readonly topology: string
  readonly actions: readonly Action[]
  readonly summary: Summary
  readonly warnings: readonly string[]
  /** What the plan does beyond its resources that a person should know (IPv4 forwarding...). */
  readonly notes: readonly string[]
  /** The lab's directory in the state directory, which apply creates and destroy removes. */
  readonly lab_dir: string
  /** The plan removes the whole lab (destroy): apply also removes the lab's directory. */
  readonly destroy: boolean
  /** The --target addresses it was limited to (none: the whole lab). */
  readonly targets: readonly Address[]
  readonly hosts?: readonly PlanHost[]
}

export const ACTION_KINDS: readonly ActionKind[] = ['create', 'update', 'restart', 'replace', 'delete']
