import { PlanError } from '../lib/errors.js'
import { didYouMean } from '../lib/suggest.js'
import type { Address } from '../model/types.js'

/** --target: the named addresses and, transitively, what they depend on. */
export function selectTargets(
  targets: readonly Address[],
  known: readonly Address[],
  usesOf: (address: Address) => readonly Address[],
): Address[] {
  const unknown = targets.filter((t) => !known.includes(t))
  if (unknown.length > 0) {
    throw new PlanError(
      unknown.map((t) => ({ address: t, message: `no such resource${didYouMean(t, known)}` })),
      'a target is an address like vm/web, network/lan, disk/data or tap/web.0 (see `kvmctl plan`)',
    )
  }
  const selected = new Set<Address>()
  const visit = (address: Address) => {
    if (selected.has(address)) return
    selected.add(address)
    for (const dep of usesOf(address)) visit(dep)
  }
  for (const target of targets) visit(target)
  return [...selected]
}
