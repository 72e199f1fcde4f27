import { BaseCommand } from '../base-command.js'

export default class Validate extends BaseCommand<typeof Validate> {
  static override summary = 'Check the topology file and print every problem as file:line:col: message.'
  static override description =
    'Reads the topology, checks it against the schema and the rules of docs/topology.md (references, duplicates, addresses, units, names), and changes nothing. Exits 1 when there is any problem.'
  static override examples = ['<%= config.bin %> validate -f examples/quickstart.yaml']

  async run(): Promise<void> {
    const { topology } = await this.loaded()
    const counts = {
      networks: topology.networks.length,
      vms: topology.vms.length,
      disks: topology.disks.filter((d) => d.vm === null).length,
    }
    if (this.flags.json) this.printJson({ valid: true, file: this.flags.file, lab: topology.lab, ...counts })
    else {
      this.say(
        `${this.style.green('✓')} ${this.flags.file} is valid: lab "${topology.lab}" with ${counts.vms} VM${counts.vms === 1 ? '' : 's'}, ${counts.networks} network${counts.networks === 1 ? '' : 's'} and ${counts.disks} data disk${counts.disks === 1 ? '' : 's'}.`,
      )
    }
  }
}
