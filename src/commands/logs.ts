import { open } from 'node:fs/promises'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../base-command.js'
import { KvmctlError } from '../lib/errors.js'
import { escapeControl } from '../lib/terminal.js'
import { dhcpFiles, vmFiles } from '../model/layout.js'

export default class Logs extends BaseCommand<typeof Logs> {
  static override summary = "Print a VM's console log, or its QEMU log, or the DHCP logs of its networks."
  static override description =
    'The console log is everything the guest wrote on its serial console since the lab was made. On a terminal, control characters are shown escaped (a guest cannot rewrite the screen); through a pipe the bytes are as written.'
  static override examples = [
    '<%= config.bin %> logs web',
    '<%= config.bin %> logs web -F   # follow, as tail -F',
    '<%= config.bin %> logs web --qemu',
  ]
  static override args = { vm: Args.string({ description: 'The VM name.', required: true }) }
  static override flags = {
    // -F as tail -F: -f is the topology file in every kvmctl command.
    follow: Flags.boolean({ char: 'F', summary: 'Keep printing what is written, until Ctrl-C.' }),
    qemu: Flags.boolean({ summary: "QEMU's own log (start-up errors, warnings).", exclusive: ['dhcp'] }),
    dhcp: Flags.boolean({ summary: "The dnsmasq logs of the VM's DHCP networks.", exclusive: ['qemu'] }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logs)
    const topology = await this.topology()
    const vm = this.vmNamed(topology, args.vm)
    const files = flags.dhcp
      ? topology.networks
          .filter((n) => n.dhcp && vm.nics.some((nic) => nic.network === n.name))
          .map((n) => dhcpFiles(topology.labDir, n.name).log)
      : [flags.qemu ? vmFiles(vm.runDir).qemuLog : vmFiles(vm.runDir).log]
    if (files.length === 0) throw new KvmctlError(`vm/${vm.name} is on no DHCP network`, 'drop --dhcp')
    const show = process.stdout.isTTY
      ? (chunk: Buffer) => escapeControl(chunk.toString('utf8').replaceAll('\r\n', '\n'))
      : (chunk: Buffer) => chunk
    const offsets = await Promise.all(files.map((file) => printFrom(file, 0, show)))
    if (offsets.every((o) => o === null))
      throw new KvmctlError(
        `no log yet: ${files.join(', ')}`,
        'has the VM been started? `kvmctl apply` starts it',
      )
    if (!flags.follow) return
    // Follow by polling: logs grow by lines, a fifth of a second late is soon enough.
    const at = offsets.map((o) => o ?? 0)
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      for (const [i, file] of files.entries()) at[i] = (await printFrom(file, at[i]!, show)) ?? at[i]!
    }
  }
}

/** Prints the file from `offset` on; returns the new end, or null when there is no file. */
async function printFrom(path: string, offset: number, show: (chunk: Buffer) => string | Buffer) {
  const handle = await open(path, 'r').catch(() => null)
  if (!handle) return null
  try {
    const buffer = Buffer.alloc(64 * 1024)
    let position = offset
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
      if (bytesRead === 0) return position
      process.stdout.write(show(buffer.subarray(0, bytesRead)))
      position += bytesRead
    }
  } finally {
    await handle.close()
  }
}
