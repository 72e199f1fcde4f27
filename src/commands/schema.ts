import { BaseCommand } from '../base-command.js'
import { topologySchema } from '../lib/package.js'

export default class Schema extends BaseCommand<typeof Schema> {
  static override summary = 'Print the JSON Schema of the topology file, for editors.'
  static override description =
    'Point your editor at it with a first line like `# yaml-language-server: $schema=./topology.schema.json`.'
  static override examples = ['<%= config.bin %> schema > topology.schema.json']

  async run(): Promise<void> {
    this.printJson(topologySchema())
  }
}
