import type { Address, FieldsOf, ResourceType } from './types.js'

/**
 * What the host has for one lab: only objects this lab owns, plus the names it wants that
 * something else holds. The real host adapter (src/host/observe.ts) and the in-memory host
 * fill it; the planner reads nothing else.
 */
export interface HostSnapshot {
  readonly lab: string
  readonly resources: Readonly<Record<Address, ObservedResource>>
  /** Desired host names already taken by an object this lab does not own. */
  readonly conflicts: readonly NameConflict[]
  /** Facts about the host that make a plan impossible (a missing external bridge...). */
  readonly problems: readonly { address: Address; message: string }[]
  /** Host capacity, for the plan's capacity check; null where it was not measured. */
  readonly capacity: HostCapacity | null
  /** Images with a url that are not in the image cache yet: apply downloads them first. */
  readonly downloads?: readonly string[]
  /** Where the boot files the controller copies to this host go, for those not there yet. */
  readonly puts?: readonly string[]
  /** The digests images with `checksums` got from their SUMS files, by image name. */
  readonly digests?: Readonly<Record<string, string>>
  /** The host's resolvers, which NAT networks' DNS forwards to, and the file they are from. */
  readonly resolvers?: { readonly servers: readonly string[]; readonly source: string } | null
  /** What a person should know about what was found (a record lost and a disk adopted...). */
  readonly notes?: readonly { address: Address; message: string }[]
}

/** One object of the lab as found on the host; `fields` are typed by its kind. */
export type ObservedResource = { [T in ResourceType]: Observed<T> }[ResourceType]

export interface Observed<T extends ResourceType> {
  readonly address: Address
  readonly type: T
  readonly name: string
  /** The same fields as the desired resource (src/plan/fields.ts), as found on the host. */
  readonly fields: FieldsOf[T]
  /** What the executor needs to change or remove it: interface name, file path, pid. */
  readonly handle: Readonly<Record<string, string | number | null>>
  /** Addresses this object uses on the host (a VM's taps and disks, a tap's network). */
  readonly uses: readonly Address[]
  /**
   * A disk's protect flag as recorded when it was made, so that a removed disk stays protected;
   * true for a disk whose record is lost.
   */
  readonly protect?: boolean
}

/** The observed resource at `address` when it is of kind `type`. */
export function observedOf<T extends ResourceType>(
  snapshot: HostSnapshot,
  address: Address,
  type: T,
): Observed<T> | undefined {
  const found = snapshot.resources[address]
  return found?.type === type ? (found as Observed<T>) : undefined
}

export interface NameConflict {
  readonly address: Address
  readonly hostName: string
  readonly kind: string
  /** `lab other network/lan` when another lab owns it, null when nothing of kvmctl does. */
  readonly owner: string | null
}

export interface HostCapacity {
  readonly memoryAvailableMiB: number
  readonly cpus: number
  readonly diskAvailableBytes: number
}

export function emptySnapshot(lab: string): HostSnapshot {
  return { lab, resources: {}, conflicts: [], problems: [], capacity: null }
}
