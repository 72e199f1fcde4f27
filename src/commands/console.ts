import { connect } from 'node:net'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../base-command.js'
import { KvmctlError } from '../lib/errors.js'
import { vmFiles } from '../model/layout.js'

const DETACH = 0x1d // Ctrl-]

export default class Console extends BaseCommand<typeof Console> {
  static override summary = "Attach the terminal to a VM's serial console; Ctrl-] detaches."
  static override description =
    'Works while the VM runs; one console per VM at a time, several VMs at once from several terminals. Without a terminal, standard input is sent to the console and its output printed, which scripts can use.'
  static override examples = [
    '<%= config.bin %> console alpha -f examples/quickstart.yaml',
    "echo 'uname -a' | <%= config.bin %> console alpha --timeout 3",
  ]
  static override args = { vm: Args.string({ description: 'The VM name.', required: true }) }
  static override flags = {
    timeout: Flags.integer({
      summary: 'Without a terminal: seconds to keep printing after standard input ends.',
      default: 2,
    }),
  }

  async run(): Promise<void> {
    const { args } = await this.parse(Console)
    const topology = await this.topology()
    const vm = this.vmNamed(topology, args.vm)
    const path = vmFiles(vm.runDir).serial
    const socket = connect(path)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', (error) =>
        reject(
          new KvmctlError(
            `cannot attach to the console of vm/${vm.name}: ${error.message}`,
            'is the VM running? `kvmctl status` shows it; one console per VM at a time',
          ),
        ),
      )
    })
    const stdin = process.stdin
    if (stdin.isTTY) {
      process.stderr.write(`Connected to vm/${vm.name}'s console. Ctrl-] detaches.\r\n`)
      stdin.setRawMode(true)
      stdin.on('data', (chunk: Buffer) => {
        if (chunk.includes(DETACH)) socket.end()
        else socket.write(chunk)
      })
      socket.pipe(process.stdout)
      await new Promise((resolve) => socket.once('close', resolve))
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\r\nDetached.\n')
    } else {
      socket.pipe(process.stdout)
      stdin.on('data', (chunk) => socket.write(chunk))
      await new Promise((resolve) => stdin.once('end', resolve))
      await new Promise((resolve) => setTimeout(resolve, this.flags.timeout * 1000))
      socket.end()
      socket.destroy()
    }
  }
}
