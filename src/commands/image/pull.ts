import * as Args from '@oclif/core/args'
import { downloadImages } from '../../apply/downloads.js'
import { BaseCommand } from '../../base-command.js'
import { settleImages } from '../../config/resolve.js'
import { checkImageCache } from '../../host/boundary.js'
import { imageDigests } from '../../host/checksums.js'
import { KvmctlError, PlanError } from '../../lib/errors.js'

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
    const loaded = await this.topology()
    const withUrl = Object.values(loaded.images).filter((i) => i.url !== null)
    const wanted = (argv as string[]).length > 0 ? (argv as string[]) : withUrl.map((i) => i.name)
    for (const name of wanted) {
      if (!withUrl.some((i) => i.name === name))
        throw new KvmctlError(
          `lab "${loaded.lab}" has no image "${name}" with a url`,
          'see its images: section',
        )
    }
    process.umask(0o077)
    checkImageCache(loaded.stateDir)
    const sums = await imageDigests(loaded, wanted)
    if (sums.problems.length > 0) throw new PlanError(sums.problems)
    const topology = settleImages(loaded, sums.digests)
    await downloadImages(topology, wanted, this.style, (text) => process.stderr.write(text))
    if (this.flags.json)
      this.printJson({ images: wanted.map((name) => ({ name, path: topology.images[name]!.path })) })
  }
}
