import * as Args from '@oclif/core/args'
import { BaseCommand } from '../base-command.js'
import { sshTarget } from '../host/addresses.js'
import { handOver } from '../host/exec.js'
import { sshOptions } from '../host/ssh-keys.js'
import { KvmctlError } from '../lib/errors.js'
import type { Topology, Vm } from '../model/types.js'

export default class Cp extends BaseCommand<typeof Cp> {
  static override summary =
    "Copy files and directories between the host and a VM, over ssh with the lab's key."
  static override description =
    'One side is VM:PATH (VM a VM of the lab), the other a path on the host; directories are copied whole (scp -r). Host keys are checked as kvmctl ssh does. To copy between two VMs, copy through the host.'
  static override examples = [
    '<%= config.bin %> cp ./dist web:/tmp/app',
    '<%= config.bin %> cp web:/var/log/app.log ./artifacts/',
  ]
  static override args = {
    source: Args.string({ description: 'What to copy: PATH or VM:PATH.', required: true }),
    target: Args.string({ description: 'Where to: PATH or VM:PATH.', required: true }),
  }

  async run(): Promise<void> {
    const { args } = await this.parse(Cp)
    const topology = await this.topology()
    const source = remote(topology, args.source)
    const target = remote(topology, args.target)
    if (source && target)
      throw new KvmctlError(
        'both sides are VMs',
        'copy through the host: cp VM1:PATH ./tmp, then cp ./tmp VM2:PATH',
      )
    const vm = source?.vm ?? target?.vm
    if (!vm) throw new KvmctlError('neither side is a VM', 'name one side as VM:PATH, like web:/tmp/file')
    // scp names a host user@address, an IPv6 address in brackets.
    const login = (await sshTarget(topology, vm)).replace(/@(.*:.*)$/, '@[$1]')
    const side = (arg: string, parsed: ReturnType<typeof remote>) =>
      parsed ? `${login}:${parsed.path}` : arg
    process.exitCode = await handOver(
      'scp',
      [
        '-r',
        '-q',
        ...sshOptions(topology.lab, topology.labDir, vm.name),
        side(args.source, source),
        side(args.target, target),
      ],
      'install the OpenSSH client (apt-get install openssh-client)',
    )
  }
}

/** `VM:PATH` when the part before the first colon is a VM of the lab; a host path otherwise. */
function remote(topology: Topology, arg: string): { vm: Vm; path: string } | null {
  const colon = arg.indexOf(':')
  const vm = colon > 0 ? topology.vms.find((v) => v.name === arg.slice(0, colon)) : undefined
  return vm ? { vm, path: arg.slice(colon + 1) || '.' } : null
}
