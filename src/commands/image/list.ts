import { BaseCommand } from '../../base-command.js'
import { listCachedImages } from '../../host/image-usage.js'
import { formatSize } from '../../lib/units.js'
import { imageCacheDir } from '../../model/layout.js'
import { renderTable } from '../../render/table.js'

export default class ImageList extends BaseCommand<typeof ImageList> {
  static override summary = 'The image cache: downloaded images, their size, and the disks that use them.'
  static override examples = ['<%= config.bin %> image list', '<%= config.bin %> image list --json']

  async run(): Promise<void> {
    const stateDir = this.flags['state-dir']
    const images = await listCachedImages(stateDir)
    if (this.flags.json) {
      this.printJson({ cache: imageCacheDir(stateDir), images })
      return
    }
    if (images.length === 0) {
      this.say(`The image cache (${imageCacheDir(stateDir)}) is empty.`)
      return
    }
    this.say(
      renderTable(
        ['DIGEST', 'SIZE', 'DOWNLOADED', 'USED BY'],
        images.map((i) => [
          `${i.digest.slice(0, 23)}…`,
          formatSize(i.bytes),
          i.downloaded.slice(0, 19).replace('T', ' '),
          i.usedBy.length > 0 ? i.usedBy.join(', ') : this.style.dim('(unused)'),
        ]),
      ),
    )
  }
}
