import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { run } from '../host/exec.js'
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
    ...(configSetsControlPath(target, config) ? [] : ['-o', `ControlPath=${controlDir()}/%C`]),
    '--',
    target,
    ...remote,
  ]
}

/** What `ssh -G` said of each target and config: whether that config sets a ControlPath. */
const controlPathSet = new Map<string, boolean>()
const controlPathKey = (target: string, config: string | null) => `${config}\0${target}`

/**
 * Asks ssh, once per target and config, whether the ssh_config in use (`--ssh-config`, else the
 * user's and the system's) sets a ControlPath for this target: `ssh -G` follows Include, Host and
 * Match as ssh itself does. Called before a session starts; sshArgv then knows. A config given
 * with -F that neither sets one nor includes another file is read without starting ssh.
 */
export async function learnControlPath(target: string, config: string | null): Promise<void> {
  const key = controlPathKey(target, config)
  if (controlPathSet.has(key)) return
  if (config !== null && !/^\s*(ControlPath|Include)[\s=]/im.test(readText(config))) {
    controlPathSet.set(key, false)
    return
  }
  const effective = await run('ssh', [...(config ? ['-F', config] : []), '-G', '--', target]).catch(
    // A config ssh cannot read fails the connection itself, with ssh's own message.
    () => ({ stdout: '' }),
  )
  controlPathSet.set(key, /^controlpath /m.test(effective.stdout))
}

/** Whether the config sets a ControlPath: as ssh said, else as the config file's own text says. */
function configSetsControlPath(target: string, config: string | null): boolean {
  return (
    controlPathSet.get(controlPathKey(target, config)) ??
    /^\s*ControlPath[\s=]/im.test(readText(config ?? `${homedir()}/.ssh/config`))
  )
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
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
