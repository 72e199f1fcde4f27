import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../base-command.js'
import { handOver } from '../host/exec.js'
import { KvmctlError } from '../lib/errors.js'

export default class Capture extends BaseCommand<typeof Capture> {
  static override summary =
    "Capture a NIC's frames as pcap, from its tap on the host: for Wireshark or a file."
  static override description =
    'VM:NIC names the NIC by its name in the guest (eth0, or its nics[].name) or its index. Frames of both directions, also on a p2p wire; FILTER is a tcpdump filter expression. Needs tcpdump (apt-get install tcpdump).'
  static override examples = [
    '<%= config.bin %> capture r1:eth1 | wireshark -k -i -',
    '<%= config.bin %> capture web:eth0 -c 100 -w web.pcap icmp or arp',
  ]
  static override strict = false
  static override args = {
    nic: Args.string({ description: 'The NIC: VM:NAME or VM:INDEX.', required: true }),
  }
  static override flags = {
    write: Flags.string({ char: 'w', summary: 'Write the pcap to this file, not to standard output.' }),
    count: Flags.integer({ char: 'c', summary: 'Stop after this many frames.', min: 1 }),
  }

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Capture)
    const filter = (argv as string[]).slice(1)
    const topology = await this.topology()
    const tap = this.nicNamed(topology, args.nic)
    if (!flags.write && process.stdout.isTTY)
      throw new KvmctlError(
        'a pcap stream is binary: it goes to a file or a program, not to a terminal',
        `write it to a file (-w ${args.nic.replace(':', '-')}.pcap) or pipe it (| wireshark -k -i -)`,
      )
    // kvmctl writes the file, so that tcpdump (which drops root) needs no write access to it; -U
    // writes each frame at once, so that a pipe or a file being read sees it.
    process.exitCode = await handOver(
      'tcpdump',
      ['-i', tap.device, '-U', '-w', '-', ...(flags.count ? ['-c', String(flags.count)] : []), ...filter],
      'install tcpdump (apt-get install tcpdump), then capture again',
      { stdoutFile: flags.write },
    )
  }
}
