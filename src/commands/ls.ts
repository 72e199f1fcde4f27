import { BaseCommand } from '../base-command.js'
import { listLabs } from '../host/labs.js'
import { escapeControl } from '../lib/terminal.js'
import { renderTable } from '../render/table.js'

export default class Ls extends BaseCommand<typeof Ls> {
  static override summary = 'List every lab of the state directory: its VMs, age, expiry and topology file.'
  static override description =
    'Reads the state directory alone (no topology file): a lab whose file is gone is listed too, and `kvmctl gc` or `kvmctl destroy --lab NAME` removes it.'
  static override examples = ['<%= config.bin %> ls', '<%= config.bin %> ls --json --state-dir /srv/ci-labs']

  async run(): Promise<void> {
    const now = Date.now()
    const labs = listLabs(this.flags['state-dir']).map((lab) => ({
      lab: lab.lab,
      vms: lab.vms,
      running: lab.running,
      created: lab.created?.toISOString() ?? null,
      age_seconds: lab.created ? Math.max(0, Math.round((now - lab.created.getTime()) / 1000)) : null,
      expires: lab.expires?.toISOString() ?? null,
      expired: lab.expires !== null && lab.expires.getTime() <= now,
      file: lab.file,
      lab_dir: lab.labDir,
    }))
    if (this.flags.json) return this.printJson(labs)
    if (labs.length === 0) return this.say(`No labs in ${this.flags['state-dir']}.`)
    const s = this.style
    this.say(
      renderTable(
        ['LAB', 'VMS', 'AGE', 'EXPIRES', 'TOPOLOGY'],
        labs.map((l) => [
          l.lab,
          `${l.running}/${l.vms} running`,
          l.age_seconds === null ? '-' : formatAge(l.age_seconds),
          l.expires === null ? '-' : l.expired ? s.red(`expired ${l.expires}`) : l.expires,
          escapeControl(l.file ?? '-'),
        ]),
      ),
    )
  }
}

/** 45s, 12m, 3h, 2d: the largest unit, rounded down. */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86400)}d`
}
