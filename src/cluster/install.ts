import { readFileSync } from 'node:fs'
import { run } from '../host/exec.js'
import { KvmctlError } from '../lib/errors.js'
import { PACKAGE_ROOT, packageVersion } from '../lib/package.js'
import type { LabHost } from '../model/types.js'
import { bundleHash } from './host-side.js'
import { sshArgv } from './ssh.js'

/** What an agent needs of this kvmctl on another host: its bundle runs without node_modules. */
const AGENT_FILES = ['package.json', 'bin/run.js', 'dist/bundle/kvmctl.js', 'dist/bundle/agent.js']

/**
 * `--copy-kvmctl`: this kvmctl's agent, copied over ssh into the remote user's home
 * (`.cache/kvmctl/agents/VERSION-HASH`, one directory per build, made under another name and
 * renamed when complete). Returns the command that runs it there; the controller checks what
 * runs by the bundle hash its hello reports. The remote host needs Node.js 20, nothing else.
 */
export async function copyKvmctl(host: LabHost, sshConfig: string | null): Promise<string> {
  const dir = `.cache/kvmctl/agents/${packageVersion()}-${bundleHash().slice(0, 16)}`
  const part = `${dir}.part`
  const ssh = (words: string[], input?: string) =>
    run('ssh', sshArgv(host.ssh, words, sshConfig), { input }).catch((error: Error) => {
      throw new KvmctlError(`host ${host.name}: copying kvmctl failed: ${error.message}`)
    })
  await ssh(['rm', '-rf', part, '&&', 'mkdir', '-p', `${part}/bin`, `${part}/dist/bundle`])
  for (const file of AGENT_FILES)
    await ssh(['cat', '>', `${part}/${file}`], readFileSync(`${PACKAGE_ROOT}${file}`, 'utf8'))
  await ssh(['chmod', '755', `${part}/bin/run.js`, '&&', 'rm', '-rf', dir, '&&', 'mv', part, dir])
  return `${dir}/bin/run.js`
}
