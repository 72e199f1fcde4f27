import * as Flags from '@oclif/core/flags'
import { runApply } from '../apply/run.js'
import { BaseCommand } from '../base-command.js'
import { labOnly } from '../config/index.js'
import { listLabs } from '../host/labs.js'
import { KvmctlError } from '../lib/errors.js'
import { DURATION_HINT, parseDuration } from '../lib/units.js'

export default class Gc extends BaseCommand<typeof Gc> {
  static override summary = 'Destroy the labs that expired (their ttl passed) or are older than a duration.'
  static override description =
    "Needs no topology file: each lab is found by its record and its objects by their ownership markers, and destroyed under its own lock, as `kvmctl destroy --lab NAME` does. For CI: run `kvmctl gc --expired --auto-approve` in a step that always runs, so that a cancelled job's lab does not outlive its ttl."
  static override examples = [
    '<%= config.bin %> gc --expired --auto-approve',
    '<%= config.bin %> gc --older-than 3h --dry-run',
  ]
  static override flags = {
    expired: Flags.boolean({ summary: 'The labs whose expiry (ttl after their last apply) has passed.' }),
    'older-than': Flags.string({ summary: 'The labs first applied longer ago than this, like 3h.' }),
    'dry-run': Flags.boolean({ summary: 'Only list the labs that would be destroyed.' }),
    'auto-approve': Flags.boolean({ summary: 'Do not ask for confirmation (for CI).' }),
    'lock-timeout': Flags.integer({
      summary: 'Seconds to wait for an apply or destroy of a lab to finish (0: skip it at once).',
      default: 0,
      min: 0,
    }),
  }

  async run(): Promise<void> {
    const { expired } = this.flags
    const olderThan = this.flags['older-than']
    if (!expired && olderThan === undefined)
      throw new KvmctlError('say which labs to destroy', 'use --expired, --older-than DURATION, or both')
    const maxAge = olderThan === undefined ? null : parseDuration(olderThan)
    if (maxAge === null && olderThan !== undefined)
      throw new KvmctlError(`--older-than ${JSON.stringify(olderThan)} is not a duration`, DURATION_HINT)
    const now = Date.now()
    const chosen = listLabs(this.flags['state-dir']).filter(
      (lab) =>
        (expired && lab.expires !== null && lab.expires.getTime() <= now) ||
        (maxAge !== null && lab.created !== null && now - lab.created.getTime() > maxAge * 1000),
    )
    if (this.flags['dry-run'] || chosen.length === 0) {
      if (this.flags.json) return this.printJson({ labs: chosen.map((l) => l.lab), destroyed: [] })
      this.say(
        chosen.length === 0
          ? 'No lab to collect.'
          : `Would destroy: ${chosen.map((l) => l.lab).join(', ')} (dry run; nothing was changed).`,
      )
      return
    }
    const failed: string[] = []
    for (const lab of chosen) {
      this.say(`Destroying lab "${lab.lab}"${lab.file ? ` (made from ${lab.file})` : ''}...`)
      try {
        await runApply({
          topology: labOnly(lab.lab, this.flags['state-dir']),
          destroy: true,
          wait: false,
          autoApprove: this.flags['auto-approve'],
          parallelism: 4,
          lockTimeout: this.flags['lock-timeout'],
          showSensitive: false,
          ...this.output(),
        })
      } catch (error) {
        // One lab that cannot go (locked, a protected disk) does not keep the others.
        failed.push(lab.lab)
        this.logToStderr(`lab "${lab.lab}": ${(error as Error).message}`)
      }
    }
    const destroyed = chosen.map((l) => l.lab).filter((l) => !failed.includes(l))
    if (this.flags.json) this.printJson({ labs: chosen.map((l) => l.lab), destroyed })
    if (failed.length > 0)
      throw new KvmctlError(
        `${failed.length} lab${failed.length === 1 ? '' : 's'} not destroyed: ${failed.join(', ')}`,
        'see the messages above; `kvmctl destroy --lab NAME` destroys one, with its plan',
      )
  }
}
