import * as Args from '@oclif/core/args'
import { downloadImages } from '../../apply/downloads.js'
import { BaseCommand } from '../../base-command.js'
import { checkImageCache } from '../../host/boundary.js'
import { KvmctlError } from '../../lib/errors.js'

export default class ImagePull extends BaseCommand<typeof ImagePull> {
  static override summary =
    "Download the topology's url images into the cache now (apply does it when needed)."
  static override description =
    'Each download is verified against its sha256 before it enters the cache; parallel pulls of one image download it once.'
  static override examples = [
    '<%= config.bin %> image pull -f examples/debian.yaml',
    '<%= config.bin %> image pull debian12 -f lab.yaml',
  ]
  static override strict = false
  static override args = { image: Args.string({ description: 'Image names (default: every url image).' }) }

  async run(): Promise<void> {
    const { argv } = await this.parse(ImagePull)
    const topology = await this.topology()
    const withUrl = Object.values(topology.images).filter((i) => i.url !== null)
    const wanted = (argv as string[]).length > 0 ? (argv as string[]) : withUrl.map((i) => i.name)
    for (const name of wanted) {
      if (!withUrl.some((i) => i.name === name))
        throw new KvmctlError(
          `lab "${topology.lab}" has no image "${name}" with a url`,
          'see its images: section',
        )
    }
    process.umask(0o077)
    checkImageCache(topology.stateDir)
    await downloadImages(topology, wanted, this.style, (text) => process.stderr.write(text))
    if (this.flags.json)
      this.printJson({ images: wanted.map((name) => ({ name, path: topology.images[name]!.path })) })
  }
}
