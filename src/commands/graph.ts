import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../base-command.js'
import { renderDot, renderMermaid } from '../render/graph.js'

export default class Graph extends BaseCommand<typeof Graph> {
  static override summary = 'Draw the topology: Mermaid (default) or Graphviz DOT.'
  static override description =
    'VMs and networks are nodes; each NIC is an edge labelled with its ip. Reads only the file.'
  static override examples = [
    '<%= config.bin %> graph -f examples/router.yaml',
    '<%= config.bin %> graph --format dot | dot -Tsvg > lab.svg',
  ]
  static override flags = {
    format: Flags.string({ summary: 'Output format.', options: ['mermaid', 'dot'], default: 'mermaid' }),
  }

  async run(): Promise<void> {
    const { topology } = await this.loaded()
    const text = this.flags.format === 'dot' ? renderDot(topology) : renderMermaid(topology)
    if (this.flags.json) this.printJson({ format: this.flags.format, graph: text })
    else process.stdout.write(text)
  }
}
