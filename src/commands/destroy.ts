import { resolve } from 'node:path'
import { Flags } from '@oclif/core'
import { runApply } from '../apply/run.js'
import { BaseCommand } from '../base-command.js'
import { KvmctlError } from '../errors.js'
import type { Topology } from '../model/types.js'
import { applyFlags, outcomeJson } from './apply.js'

export default class Destroy extends BaseCommand<typeof Destroy> {
  static override summary = 'Remove everything this lab owns from the host, and nothing else.'
  static override description =
    "Stops the lab's VMs and deletes its taps, bridges, disks and state files: only objects marked as this lab's. A protected disk stops the destroy. With --lab, no topology file is needed: the lab's objects are found by their ownership markers."
  static override examples = [
    '<%= config.bin %> destroy -f examples/quickstart.yaml --auto-approve',
    '<%= config.bin %> destroy --lab quickstart --auto-approve   # the file is gone or broken',
  ]
  static override flags = {
    ...applyFlags,
    lab: Flags.string({ summary: 'Destroy the lab of this name without reading a topology file.' }),
  }

  async run(): Promise<void> {
    const outcome = await runApply({
      topology: this.flags.lab ? labOnly(this.flags.lab, this.flags['state-dir']) : await this.topology(),
      destroy: true,
      targets: this.flags.target,
      autoApprove: this.flags['auto-approve'],
      parallelism: this.flags.parallelism,
      lockTimeout: this.flags['lock-timeout'],
      wait: false,
      json: this.flags.json,
      style: this.style,
      say: (text) => this.say(text),
    })
    if (this.flags.json) this.printJson(outcomeJson(outcome))
  }
}

/** A lab with no resources of its own: what destroy needs to find and remove a lab's objects. */
function labOnly(lab: string, stateDir: string): Topology {
  if (!/^[a-z][a-z0-9-]{0,23}$/.test(lab)) {
    throw new KvmctlError(
      `bad lab name "${lab}"`,
      'a lab name is a lowercase letter and up to 23 lowercase letters, digits or "-"',
    )
  }
  const root = resolve(stateDir)
  return {
    lab,
    file: '',
    stateDir: root,
    labDir: `${root}/${lab}`,
    images: {},
    networks: [],
    disks: [],
    taps: [],
    vms: [],
  }
}
