import * as Flags from '@oclif/core/flags'
import { BaseCommand } from '../base-command.js'
import { sshTarget } from '../host/addresses.js'
import { type Captured, runCaptured } from '../host/exec.js'
import { sshOptions } from '../host/ssh-keys.js'
import { KvmctlError } from '../lib/errors.js'
import { escapeControl } from '../lib/terminal.js'
import type { Topology, Vm } from '../model/types.js'

export default class Exec extends BaseCommand<typeof Exec> {
  static override summary = "Run a command on several VMs at once, over ssh with the lab's key."
  static override description =
    "Picks VMs by name, --all, or --label KEY=VALUE (all of them must match); runs the command on each in parallel, host keys checked as kvmctl ssh does. Every output line is prefixed with its VM's name (stderr's on stderr); --json gives one object per VM instead. The exit code is 0 only if the command succeeded on every VM; the failed ones are named."
  static override examples = [
    '<%= config.bin %> exec --all -- hostname',
    '<%= config.bin %> exec web db -- sudo systemctl is-active nginx',
    "<%= config.bin %> exec --label role=web --json -- 'curl -fsS localhost'",
  ]
  static override strict = false
  static override flags = {
    all: Flags.boolean({ summary: 'Every VM of the lab.' }),
    label: Flags.string({
      summary: 'Pick the VMs with this label (KEY=VALUE); repeat to require several.',
      multiple: true,
    }),
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Exec)
    const dash = this.argv.indexOf('--')
    if (dash < 0) throw new KvmctlError('no command to run', 'put it after --: kvmctl exec --all -- hostname')
    const command = this.argv.slice(dash + 1)
    const names = (argv as string[]).slice(0, (argv as string[]).length - command.length)
    if (command.length === 0)
      throw new KvmctlError('no command to run', 'put it after --: kvmctl exec --all -- hostname')
    const topology = await this.topology()
    const vms = this.pick(topology, names, flags.all, flags.label ?? [])
    const s = this.style
    const width = Math.max(...vms.map((vm) => vm.name.length))
    const results = await Promise.all(
      vms.map(async (vm): Promise<Captured & { vm: string }> => {
        const prefix = `${s.cyan(vm.name.padEnd(width))} | `
        const onLine = (stream: 'stdout' | 'stderr', line: string) => {
          if (this.flags.json) return
          const text = `${prefix}${escapeControl(line)}\n`
          if (stream === 'stdout') process.stdout.write(text)
          else process.stderr.write(text)
        }
        try {
          const target = await sshTarget(topology, vm)
          const ssh = [...sshOptions(topology.lab, topology.labDir, vm.name), target, ...command]
          return { vm: vm.name, ...(await runCaptured('ssh', ssh, onLine)) }
        } catch (error) {
          if (!(error instanceof KvmctlError)) throw error
          onLine('stderr', error.message)
          return { vm: vm.name, code: 255, stdout: '', stderr: `${error.message}\n` }
        }
      }),
    )
    const failed = results.filter((r) => r.code !== 0)
    if (this.flags.json) {
      this.printJson(
        results.map((r) => ({ vm: r.vm, exit_code: r.code, stdout: r.stdout, stderr: r.stderr })),
      )
      if (failed.length > 0) process.exitCode = 1
      return
    }
    if (failed.length > 0)
      throw new KvmctlError(
        `failed on ${failed.length} of ${results.length} VMs: ${failed.map((r) => `vm/${r.vm} (exit ${r.code})`).join(', ')}`,
        'their output is above, prefixed with their names (255: ssh itself failed)',
      )
  }

  /** The VMs named, or all, or those with every given label; at least one. */
  private pick(topology: Topology, names: string[], all: boolean, labels: string[]): Vm[] {
    const wanted = labels.map((label) => {
      const eq = label.indexOf('=')
      if (eq < 1)
        throw new KvmctlError(`--label ${JSON.stringify(label)} is not KEY=VALUE`, 'like --label role=web')
      return [label.slice(0, eq), label.slice(eq + 1)] as const
    })
    if ([names.length > 0, all, wanted.length > 0].filter(Boolean).length !== 1)
      throw new KvmctlError('pick the VMs one way', 'name them, or use --all, or --label KEY=VALUE')
    const vms =
      names.length > 0
        ? names.map((name) => this.vmNamed(topology, name))
        : all
          ? [...topology.vms]
          : topology.vms.filter((vm) => wanted.every(([key, value]) => vm.labels[key] === value))
    if (vms.length === 0)
      throw new KvmctlError(
        `no VM of lab "${topology.lab}" has the labels ${labels.join(', ')}`,
        'kvmctl status --json lists the VMs; labels are set in the topology (vms.NAME.labels)',
      )
    return vms
  }
}
