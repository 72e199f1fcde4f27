import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { run } from '../host/exec.js'
import { KvmctlError } from '../lib/errors.js'
import type { FilePut, LabHost } from '../model/types.js'
import { sshArgv } from './ssh.js'

/**
 * Copies boot files of a lab that spans hosts into a host's image cache: one
 * `kvmctl agent put SHA256:BYTES...` over ssh (the multiplexed connection), the files streamed
 * one after another on its stdin. The other end keeps a file only if its sha256 is the one the
 * plan was made with, so a file that changed since is refused, not used.
 */
export async function putFiles(
  host: LabHost,
  stateDir: string,
  puts: readonly FilePut[],
  sshConfig: string | null,
  write: (line: string) => void,
): Promise<void> {
  const started = Date.now()
  const size = `${(puts.reduce((sum, p) => sum + p.bytes, 0) / 1024 ** 2).toFixed(1)} MiB`
  const what = puts.map((p) => p.what).join(', ')
  write(`host ${host.name}: copying ${what} (${size})...`)
  const remote = [
    host.kvmctl,
    'agent',
    'put',
    ...puts.map((p) => `${p.sha256}:${p.bytes}`),
    '--state-dir',
    stateDir,
  ]
  const files = Readable.from(
    (async function* () {
      for (const put of puts) yield* createReadStream(put.source)
    })(),
  )
  await run('ssh', sshArgv(host.ssh, remote, sshConfig), { input: files, timeoutMs: 0 }).catch(
    (error: Error) => {
      throw new KvmctlError(
        `host ${host.name}: copying ${what} failed: ${error.message}`,
        'nothing was started; run apply again',
      )
    },
  )
  write(`host ${host.name}: ${what} copied (${size} in ${((Date.now() - started) / 1000).toFixed(1)} s)`)
}
