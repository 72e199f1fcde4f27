import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../../base-command.js'
import { pruneImages } from '../../host/image-usage.js'

export default class ImagePrune extends BaseCommand<typeof ImagePrune> {
  static override summary =
    'Remove cached images that no disk of any lab on this host uses, and stale partial downloads.'
  static override examples = ['<%= config.bin %> image prune --dry-run', '<%= config.bin %> image prune']
  static override flags = {
    'dry-run': Flags.boolean({ summary: 'Show what would be removed, remove nothing.' }),
  }

  async run(): Promise<void> {
    const dryRun = this.flags['dry-run']
    const removed = await pruneImages(this.flags['state-dir'], dryRun)
    if (this.flags.json) {
      this.printJson({ removed, dry_run: dryRun })
      return
    }
    for (const path of removed) this.say(`${dryRun ? 'would remove' : 'removed'} ${path}`)
    this.say(`${removed.length} file(s) ${dryRun ? 'to remove' : 'removed'}.`)
  }
}
