import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { applyFlags } from '../apply.js'

/** The flags every snapshot command shares. */
export const snapshotFlags = {
  target: Flags.string({
    summary: 'Only this VM (vm/NAME). Repeatable.',
    multiple: true,
  }),
  'auto-approve': applyFlags['auto-approve'],
  'lock-timeout': applyFlags['lock-timeout'],
}

export const snapshotName = Args.string({ description: "The snapshot's name.", required: true })
