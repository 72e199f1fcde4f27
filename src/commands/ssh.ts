import * as Args from '@oclif/core/args'
import { BaseCommand } from '../base-command.js'
import { sshTarget } from '../host/addresses.js'
import { handOver } from '../host/exec.js'
import { sshOptions } from '../host/ssh-keys.js'

export default class Ssh extends BaseCommand<typeof Ssh> {
  static override summary = "Log in to a VM with the lab's SSH key, or run a command there."
  static override description =
    "The VM's address is its ip from the topology, else its DHCP lease; its host key is checked against the one kvmctl gave it through cloud-init. The exit code is the remote command's (255: ssh itself failed)."
  static override examples = [
    '<%= config.bin %> ssh web -f examples/debian.yaml',
    '<%= config.bin %> ssh web -- sudo cloud-init status --long',
  ]
  static override strict = false
  static override args = { vm: Args.string({ description: 'The VM name.', required: true }) }

  async run(): Promise<void> {
    const { args, argv } = await this.parse(Ssh)
    const command = (argv as string[]).slice(1)
    const topology = await this.topology()
    const vm = this.vmNamed(topology, args.vm)
    const target = await sshTarget(topology, vm)
    process.exitCode = await handOver(
      'ssh',
      [...sshOptions(topology.lab, topology.labDir, vm.name), target, ...command],
      'install the OpenSSH client (apt-get install openssh-client)',
    )
  }
}
