import * as Args from '@oclif/core/args'
import { BaseCommand } from '../../base-command.js'
import { handOver } from '../../host/exec.js'
import { KvmctlError } from '../../lib/errors.js'
import { PACKAGE_ROOT } from '../../lib/package.js'

export default class ImageBuildTiny extends BaseCommand<typeof ImageBuildTiny> {
  static override summary = 'Build the tiny test guest (a kernel and an initramfs) from Debian packages.'
  static override description =
    "What `kvmctl init`'s starter and examples/quickstart.yaml boot: Debian's cloud kernel and an initramfs with busybox and the virtio modules, whose /init configures itself from the kernel command line (kv.name, kv.ip, kv.ping...). Needs a Debian or Ubuntu host with apt's package lists (apt-get update); the result is cached in ~/.cache/kvmctl, so a second run takes milliseconds."
  static override examples = ['<%= config.bin %> image build-tiny ./guest']
  static override args = {
    dir: Args.string({ description: 'Where to write vmlinuz and initrd.gz.', default: './guest' }),
  }

  async run(): Promise<void> {
    const code = await handOver(
      `${PACKAGE_ROOT}guests/tiny/build.sh`,
      [this.args.dir],
      'the builder is a bash script: install bash',
    )
    if (code !== 0) {
      throw new KvmctlError(
        `building the tiny guest failed (exit code ${code})`,
        'see its message above; it needs apt-get, dpkg, cpio and gzip (a Debian or Ubuntu host)',
      )
    }
  }
}
