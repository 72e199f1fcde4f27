import { hostResources } from '../../src/model/address.js'
import type { HostSnapshot, NameConflict, ObservedResource } from '../../src/model/snapshot.js'
import type { Address, Resource, Topology } from '../../src/model/types.js'
import { desiredUses } from '../../src/plan/dependencies.js'
import { desiredFields } from '../../src/plan/fields.js'
import type { Action } from '../../src/plan/types.js'

/** What the host reports for a resource once it exists exactly as desired. */
export function observedFromDesired(resource: Resource, topology: Topology): ObservedResource {
  // The kind of `fields` follows the resource's own kind, which TypeScript cannot see through a union.
  return {
    address: resource.address,
    type: resource.type,
    name: resource.name,
    fields: desiredFields(resource),
    handle: {},
    uses: desiredUses(resource, topology),
    ...(resource.type === 'disk' ? { protect: resource.protect } : {}),
  } as ObservedResource
}

/**
 * An in-memory host for unit tests of the planner and the executor: it holds observed
 * resources by address and answers with a snapshot, like the real observer does.
 */
export class MemoryHost {
  readonly resources = new Map<Address, ObservedResource>()
  readonly conflicts: NameConflict[] = []

  constructor(readonly lab: string) {}

  /** A host on which `topology` has been applied. */
  static applied(topology: Topology): MemoryHost {
    const host = new MemoryHost(topology.lab)
    for (const resource of hostResources(topology)) {
      host.resources.set(resource.address, observedFromDesired(resource, topology))
    }
    return host
  }

  /** Carries out actions on this in-memory host, failing those named in `failOn`. */
  stepRunner(topology: Topology, options: { failOn?: ReadonlySet<Address>; delayMs?: number } = {}) {
    return async (action: Action): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 0))
      if (options.failOn?.has(action.address)) throw new Error(`injected failure of ${action.address}`)
      if (action.action === 'delete') this.resources.delete(action.address)
      else this.resources.set(action.address, observedFromDesired(action.desired!, topology))
    }
  }

  snapshot(): HostSnapshot {
    const resources = Object.fromEntries([...this.resources].sort(([a], [b]) => (a < b ? -1 : 1)))
    return { lab: this.lab, resources, conflicts: [...this.conflicts], problems: [], capacity: null }
  }
}
