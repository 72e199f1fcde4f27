import { BaseCommand } from '../base-command.js'
import { labLeases, vmAddresses } from '../host/addresses.js'
import { hostKeyAlias } from '../host/ssh-keys.js'
import { sshFiles } from '../model/layout.js'

export default class SshConfig extends BaseCommand<typeof SshConfig> {
  static override summary = "An OpenSSH config block for the lab's VMs, to use plain ssh, scp or rsync."
  static override description =
    'Each VM is the host <vm>.<lab>, with its address, user, the lab key and its known host key. VMs without an address yet are listed as comments.'
  static override examples = [
    '<%= config.bin %> ssh-config -f examples/debian.yaml > lab.ssh && ssh -F lab.ssh web.debian-demo',
  ]

  async run(): Promise<void> {
    const topology = await this.topology()
    const leases = await labLeases(topology)
    const files = sshFiles(topology.labDir)
    const blocks: string[] = [`# kvmctl lab "${topology.lab}" (${topology.file})`]
    for (const vm of topology.vms) {
      const address = vmAddresses(topology, vm, leases)[0]
      if (!vm.cloudInit || !address) {
        blocks.push(
          `# ${vm.name}: ${vm.cloudInit ? 'no address yet (apply, or wait for its DHCP lease)' : 'no cloud_init, so no SSH key'}`,
        )
        continue
      }
      blocks.push(
        [
          `Host ${vm.name}.${topology.lab}`,
          `  HostName ${address}`,
          `  User ${vm.sshUser}`,
          `  IdentityFile ${files.key}`,
          '  IdentitiesOnly yes',
          `  UserKnownHostsFile ${files.knownHosts}`,
          '  StrictHostKeyChecking yes',
          `  HostKeyAlias ${hostKeyAlias(topology.lab, vm.name)}`,
        ].join('\n'),
      )
    }
    process.stdout.write(`${blocks.join('\n\n')}\n`)
  }
}
