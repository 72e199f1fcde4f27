import { existsSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { Flags } from '@oclif/core'
import { BaseCommand } from '../base-command.js'
import { writeFileAtomic } from '../host/state.js'
import { KvmctlError } from '../lib/errors.js'
import { PACKAGE_ROOT, SCHEMA_PATH } from '../lib/package.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Write a starter kvmctl.yaml: two VMs on one network.'
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
    if (!/^[a-z][a-z0-9-]{0,23}$/.test(this.flags.name)) {
      throw new KvmctlError(
        `bad lab name "${this.flags.name}"`,
        'a lab name is a lowercase letter and up to 23 lowercase letters, digits or "-"',
      )
    }
    const schema = relative(dirname(file), SCHEMA_PATH)
    const guestScript = relative(process.cwd(), `${PACKAGE_ROOT}test/fixtures/build-tiny-guest.sh`)
    await writeFileAtomic(file, starter(this.flags.name, schema, guestScript), 0o644)
    const guestDir = relative(process.cwd(), `${dirname(file)}/guest`) || '.'
    this.say(
      [
        `Wrote ${this.flags.file}. Next:`,
        `  ${guestScript} ${guestDir}   # a tiny guest from Debian's packages (or edit images: in the file)`,
        `  kvmctl plan -f ${this.flags.file}`,
        `  kvmctl apply -f ${this.flags.file}`,
      ].join('\n'),
    )
  }
}

function starter(name: string, schema: string, guestScript: string): string {
  return `# yaml-language-server: $schema=${schema}
# A kvmctl lab: two VMs on one network. \`kvmctl plan\` shows what \`kvmctl apply\` would do.
name: ${name}

defaults:
  cpus: 1
  memory: 256M

images:
  # Direct kernel boot. A tiny guest for trying things out: ${guestScript} ./guest
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
  two:
    image: tiny
    cmdline: kv.name=two kv.ip=10.10.0.12/24 kv.ping=10.10.0.11
    nics:
      - network: lan
        ip: 10.10.0.12
`
}
