import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { KvmctlError } from '../lib/errors.js'

/**
 * How kvmctl reaches a host: the `ssh` binary, so that everything of the user's ssh_config
 * applies (Host aliases, Port, User, ProxyJump, IdentityFile, known_hosts), with the options a
 * tool that runs unattended needs, which come first on the command line and so win over any
 * config: never a question (BatchMode), never a host key taken on trust (StrictHostKeyChecking=yes:
 * an unknown or changed key is an error), keepalives that notice a dead host within 15 s, and one
 * multiplexed connection per host that later commands reuse (ControlMaster, ControlPersist).
 */
export function sshArgv(target: string, remote: readonly string[], config: string | null): string[] {
  return [
    ...(config ? ['-F', config] : []),
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'ControlMaster=auto',
    '-o',
    'ControlPersist=60',
    ...(configSetsControlPath(config) ? [] : ['-o', `ControlPath=${controlDir()}/%C`]),
    '--',
    target,
    ...remote,
  ]
}

/** The ssh_config in use: `--ssh-config`/KVMCTL_SSH_CONFIG, else the user's. */
function configSetsControlPath(config: string | null): boolean {
  const file = config ?? `${homedir()}/.ssh/config`
  try {
    return /^\s*ControlPath[\s=]/im.test(readFileSync(file, 'utf8'))
  } catch {
    return false
  }
}

/**
 * Where the control sockets go: the user's runtime directory (XDG_RUNTIME_DIR, /run/user/UID),
 * else a directory of the user's own under the temporary directory. %C (a hash of local host,
 * remote host, port and user) keeps the socket path short and one per destination.
 */
function controlDir(): string {
  const uid = process.getuid?.() ?? 0
  const runtime = process.env.XDG_RUNTIME_DIR ?? `/run/user/${uid}`
  const base = existsSync(runtime) ? runtime : tmpdir()
  const dir = `${base}/kvmctl-ssh${base === runtime ? '' : `-${uid}`}`
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  // Another user's directory (a shared /tmp) would let them hijack the connections.
  const st = statSync(dir)
  if (st.uid !== uid || (st.mode & 0o077) !== 0)
    throw new KvmctlError(
      `${dir}, where kvmctl keeps its ssh connections, is not this user's alone`,
      `remove it (rm -r ${dir}); kvmctl makes it again, mode 700`,
    )
  return dir
}
