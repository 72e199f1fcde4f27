import { run } from '../host/exec.js'
import { KvmctlError } from '../lib/errors.js'
import type { FilePut, LabHost } from '../model/types.js'
import { sshArgv } from './ssh.js'

/**
 * Copies boot files of a lab that spans hosts into a host's image cache, one after another:
 * each through `kvmctl agent put SHA256` over ssh (the multiplexed connection), the file streamed
 * on its stdin. The other end keeps a file only if its sha256 is the one the plan was made with,
 * so a file that changed since is refused, not used.
 */
export async function putFiles(
  host: LabHost,
  stateDir: string,
  puts: readonly FilePut[],
  sshConfig: string | null,
  write: (line: string) => void,
): Promise<void> {
  for (const put of puts) {
    const started = Date.now()
    const size = `${(put.bytes / 1024 ** 2).toFixed(1)} MiB`
    write(`host ${host.name}: copying ${put.what} (${size})...`)
    const remote = [host.kvmctl, 'agent', 'put', put.sha256, '--state-dir', stateDir]
    await run('ssh', sshArgv(host.ssh, remote, sshConfig), { inputFile: put.source, timeoutMs: 0 }).catch(
      (error: Error) => {
        throw new KvmctlError(
          `host ${host.name}: copying ${put.what} (${put.source}) failed: ${error.message}`,
          'nothing was started; run apply again',
        )
      },
    )
    write(
      `host ${host.name}: ${put.what} copied (${size} in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    )
  }
}
