import type { ChalkInstance } from 'chalk'
import type { RestorePlan, RestoreStep } from '../plan/restore.js'

/**
 * A restore, shown before it is done, in the plan's manner: one `<- restore` per VM, what comes
 * back and what is lost (whatever was written to its rolled-back disks since the save).
 */
export function renderRestorePlan(plan: RestorePlan, lab: string, style: ChalkInstance): string {
  const lines = [`kvmctl will restore lab "${lab}" to snapshot "${plan.snapshot}" as follows:`, '']
  for (const step of plan.steps) {
    lines.push(
      `  ${style.cyan('<-')} restore vm/${step.vm} (snapshot ${plan.snapshot})  ${style.red.bold('destroys data')}`,
      `       ${describeStep(step)}`,
    )
    for (const note of step.notes) lines.push(style.cyan(`       note: ${note}`))
    lines.push('')
  }
  for (const s of plan.skipped) lines.push(style.yellow(`  (not restored) vm/${s.vm}: ${s.why}`), '')
  const memory = plan.steps.filter((s) => s.memory).length
  lines.push(
    `${style.bold('Restore:')} ${plan.steps.length} VM(s), ${memory} from memory, ${plan.steps.length - memory} from disks; ${plan.skipped.length} not restored. What was written to their disks since the save is lost.`,
  )
  return lines.join('\n')
}

function describeStep(step: RestoreStep): string {
  const disks = step.disks.length > 0 ? step.disks.join(', ') : 'none'
  if (step.memory)
    return `memory, devices and disks (${disks}): the guest goes on from the save${step.resume ? '' : ', paused'}${step.restart ? ' in a new QEMU' : ''}`
  return `disks rolled back (${disks}); ${step.restart ? 'the VM boots from them' : 'the VM stays stopped'}`
}
