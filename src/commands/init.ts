import { existsSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../base-command.js'
import { checkLabName } from '../config/index.js'
import { writeFileAtomic } from '../host/state.js'
import { KvmctlError } from '../lib/errors.js'
import { SCHEMA_PATH } from '../lib/package.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Write a starter kvmctl.yaml: two VMs on one network that ping each other.'
  static override description =
    'The starter boots the tiny test guest, which `kvmctl image build-tiny` builds next to the file.'
  static override examples = ['<%= config.bin %> init', '<%= config.bin %> init -f lab.yaml --name mylab']
  static override flags = {
    name: Flags.string({ summary: "The lab's name.", default: 'lab' }),
    force: Flags.boolean({ summary: 'Overwrite an existing file.' }),
  }

  async run(): Promise<void> {
    const file = resolve(this.flags.file)
    if (existsSync(file) && !this.flags.force) {
      throw new KvmctlError(
        `${this.flags.file} exists already`,
        'pass --force to overwrite it, or -f to write another file',
      )
    }
    checkLabName(this.flags.name)
    await writeFileAtomic(file, starter(this.flags.name, relative(dirname(file), SCHEMA_PATH)), 0o644)
    const guestDir = relative(process.cwd(), `${dirname(file)}/guest`) || '.'
    const f = this.flags.file === 'kvmctl.yaml' ? '' : ` -f ${this.flags.file}`
    this.say(
      [
        `Wrote ${this.flags.file}. Next:`,
        `  kvmctl image build-tiny ${guestDir}   # the guest it boots, from Debian's packages (or edit images:)`,
        `  kvmctl plan${f}`,
        `  kvmctl apply${f} --wait`,
      ].join('\n'),
    )
  }
}

function starter(name: string, schema: string): string {
  return `# yaml-language-server: $schema=${schema}
# A kvmctl lab: two VMs on one network that ping each other. \`kvmctl plan\` shows what
# \`kvmctl apply\` would do; \`kvmctl destroy\` removes the lab and nothing else.
name: ${name}

defaults:
  cpus: 1
  memory: 256M

images:
  # Direct kernel boot of the tiny test guest: \`kvmctl image build-tiny ./guest\` builds it.
  tiny:
    kernel: ./guest/vmlinuz
    initrd: ./guest/initrd.gz
    cmdline: console=ttyS0 quiet

networks:
  lan:
    cidr: 10.10.0.0/24

vms:
  one:
    image: tiny
    cmdline: kv.name=one kv.ip=10.10.0.11/24 kv.ping=10.10.0.12
    nics:
      - network: lan
        ip: 10.10.0.11
    ready:                     # what \`apply --wait\` waits for
      serial: "KVMCTL-GUEST ping peer=10.10.0.12 ok"
      timeout: 120s
  two:
    image: tiny
    cmdline: kv.name=two kv.ip=10.10.0.12/24 kv.ping=10.10.0.11
    nics:
      - network: lan
        ip: 10.10.0.12
    ready:
      serial: "KVMCTL-GUEST ping peer=10.10.0.11 ok"
      timeout: 120s
`
}
