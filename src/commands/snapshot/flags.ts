import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

/** The flags every snapshot command shares. */
export const snapshotFlags = {
  target: Flags.string({
    summary: 'Only this VM (vm/NAME). Repeatable.',
    multiple: true,
  }),
  'auto-approve': Flags.boolean({ summary: 'Do not ask for confirmation (for CI).' }),
  'lock-timeout': Flags.integer({
    summary: 'Seconds to wait for another kvmctl working on the same lab (0: fail at once).',
    default: 0,
    min: 0,
  }),
}

export const snapshotName = Args.string({ description: "The snapshot's name.", required: true })
