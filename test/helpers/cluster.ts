import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { BIN, type CliResult, kvmctl } from './cli.js'
import { removeNetns } from './netns.js'

/**
 * Hosts for tests of labs that span hosts: each a network namespace with its own sshd (its own
 * host key, on its own address) and its own state directory, all on an underlay bridge in a
 * namespace of their own, and a controller namespace whose ssh_config names them (alias, user,
 * key, a known_hosts of their keys, StrictHostKeyChecking yes). Real OpenSSH, one kernel: this
 * cannot show a real path MTU, clock skew or different kernels. `cleanup()` removes it all.
 */
export class TestCluster {
  readonly id = randomBytes(3).toString('hex')
  readonly dir = mkdtempSync('/tmp/kc-')
  readonly underlay = `kvmctl-t-u${this.id}`
  readonly controller = `kvmctl-t-c${this.id}`
  readonly sshConfig = `${this.dir}/ssh_config`
  readonly knownHosts = `${this.dir}/known_hosts`
  readonly hosts: { name: string; netns: string; address: string; stateDir: string }[]

  constructor(names: readonly string[]) {
    this.hosts = names.map((name, i) => ({
      name,
      netns: `kvmctl-t-h${this.id}${name}`,
      address: `10.250.0.${i + 1}`,
      stateDir: `${this.dir}/${name}/s`,
    }))
    for (const ns of [this.underlay, this.controller, ...this.hosts.map((h) => h.netns)]) {
      execFileSync('ip', ['netns', 'add', ns])
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    }
    const under = (...args: string[]) => execFileSync('ip', ['-n', this.underlay, ...args])
    under('link', 'add', 'br0', 'type', 'bridge')
    under('link', 'set', 'br0', 'up')
    const joined = [...this.hosts, { name: 'controller', netns: this.controller, address: '10.250.0.254' }]
    joined.forEach((member, i) => {
      under('link', 'add', `u${i}`, 'type', 'veth', 'peer', 'name', 'underlay0', 'netns', member.netns)
      under('link', 'set', `u${i}`, 'master', 'br0', 'up')
      execFileSync('ip', ['-n', member.netns, 'addr', 'add', `${member.address}/24`, 'dev', 'underlay0'])
      execFileSync('ip', ['-n', member.netns, 'link', 'set', 'underlay0', 'up'])
    })
    // The controller's key, and each host's sshd trusting it.
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${this.dir}/id_ed25519`])
    const config: string[] = []
    const known: string[] = []
    mkdirSync('/run/sshd', { recursive: true })
    for (const host of this.hosts) {
      const home = `${this.dir}/${host.name}`
      mkdirSync(host.stateDir, { recursive: true, mode: 0o700 })
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${home}/host_key`])
      writeFileSync(`${home}/authorized_keys`, readFileSync(`${this.dir}/id_ed25519.pub`))
      writeFileSync(
        `${home}/sshd_config`,
        [
          `ListenAddress ${host.address}`,
          `HostKey ${home}/host_key`,
          `PidFile ${home}/sshd.pid`,
          `AuthorizedKeysFile ${home}/authorized_keys`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          '',
        ].join('\n'),
      )
      spawn('ip', ['netns', 'exec', host.netns, '/usr/sbin/sshd', '-D', '-e', '-f', `${home}/sshd_config`], {
        stdio: 'ignore',
        detached: true,
      }).unref()
      known.push(`${host.address} ${this.hostKey(host.name)}`)
      config.push(
        `Host ${host.name}`,
        `  HostName ${host.address}`,
        '  User root',
        `  IdentityFile ${this.dir}/id_ed25519`,
        `  UserKnownHostsFile ${this.knownHosts}`,
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '',
      )
    }
    // The control sockets of kvmctl's multiplexed connections stay with this cluster (kvmctl uses
    // the config's ControlPath when it has one): another test's hosts have the same addresses.
    config.push('Host *', `  ControlPath ${this.dir}/cm-%C`, '')
    writeFileSync(this.knownHosts, `${known.join('\n')}\n`)
    writeFileSync(this.sshConfig, config.join('\n'))
  }

  /**
   * The hosts: block of a topology for these hosts: each reached over ssh by its alias, with its
   * own state directory, running this checkout's kvmctl.
   */
  hostsYaml(names: readonly string[] = this.hosts.map((h) => h.name)): string {
    return [
      'hosts:',
      ...names.map((name) => {
        const h = this.hosts.find((x) => x.name === name)!
        return `  ${name}: { ssh: ${name}, underlay: ${h.address}, state_dir: ${h.stateDir}, kvmctl: ${BIN} }`
      }),
    ].join('\n')
  }

  /** kvmctl on the controller, with the cluster's ssh_config. */
  kvmctl(
    args: readonly string[],
    options: { env?: Record<string, string>; sshConfig?: string } = {},
  ): Promise<CliResult> {
    const config = options.sshConfig ?? this.sshConfig
    return kvmctl([...args, '--ssh-config', config, '--state-dir', `${this.dir}/controller`], {
      netns: this.controller,
      env: { CI: '1', ...options.env },
    })
  }

  /** A command on a host, run directly in its namespace (to look at it, not through kvmctl). */
  on(host: string, command: readonly string[]): string {
    const netns = this.hosts.find((h) => h.name === host)!.netns
    return execFileSync('ip', ['netns', 'exec', netns, ...command], { encoding: 'utf8' })
  }

  /** `ssh HOST -- COMMAND` from the controller, with the cluster's ssh_config (or another). */
  ssh(host: string, command: readonly string[], config = this.sshConfig) {
    return spawnSync('ip', ['netns', 'exec', this.controller, 'ssh', '-F', config, host, '--', ...command], {
      encoding: 'utf8',
      timeout: 20_000,
    })
  }

  /** A host's public host key, as a known_hosts line has it after the address. */
  hostKey(host: string): string {
    return readFileSync(`${this.dir}/${host}/host_key.pub`, 'utf8').trim()
  }

  cleanup(): void {
    for (const ns of [...this.hosts.map((h) => h.netns), this.controller, this.underlay]) removeNetns(ns)
    rmSync(this.dir, { recursive: true, force: true })
  }
}
