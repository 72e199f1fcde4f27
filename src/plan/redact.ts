import { redactSeedText, redactUserData } from '../cloud-init/sensitive.js'
import type { Observed } from '../model/snapshot.js'
import type { Topology, Vm } from '../model/types.js'
import type { Action, Change, Plan } from './types.js'

/**
 * The plan as kvmctl prints and saves it: the secrets of every VM's user data replaced by
 * `(sensitive)` in its changes, its desired resource and its observed fields. A secret that
 * changed still shows as a change. (--show-sensitive prints the plan as it is.)
 */
export function redactPlan(plan: Plan, topology: Topology): Plan {
  return { ...plan, actions: plan.actions.map((action) => redactAction(action, topology)) }
}

function redactAction(action: Action, topology: Topology): Action {
  if (action.type !== 'vm') return action
  const desired = action.desired as Vm | null
  const sensitive = (desired ?? topology.vms.find((v) => v.name === action.name))?.cloudInit?.sensitive ?? []
  const seed = (text: string | null) => (text === null ? null : redactSeedText(text, sensitive))
  const current = action.current as Observed<'vm'> | null
  return {
    ...action,
    changes: action.changes.map((change) =>
      change.field === 'cloud_init' ? redactChange(change, seed) : change,
    ),
    desired: desired?.cloudInit
      ? {
          ...desired,
          cloudInit: {
            ...desired.cloudInit,
            userData: redactUserData(desired.cloudInit.userData, sensitive),
          },
        }
      : desired,
    current: current
      ? { ...current, fields: { ...current.fields, cloud_init: seed(current.fields.cloud_init) } }
      : null,
  }
}

function redactChange(change: Change, seed: (text: string | null) => string | null): Change {
  const before = seed(change.before as string | null)
  let after = seed(change.after as string | null)
  if (change.before !== change.after && before === after) after = `${after}\n# sensitive values changed`
  return { ...change, before, after }
}
