import { mkdir, readdir, readFile, rm } from 'node:fs/promises'
import { sshFiles } from '../model/layout.js'
import { run } from './exec.js'
import { exists, writeFileAtomic } from './state.js'

/** The name under which a VM's host key is known: stable while its address may change. */
export const hostKeyAlias = (lab: string, vm: string) => `kvmctl.${lab}.${vm}`

/** Makes an ed25519 key pair with ssh-keygen, unless it is there (created under a temporary name). */
async function ensureKeyPair(path: string, comment: string): Promise<void> {
  if (await exists(`${path}.pub`)) return
  const partial = `${path}.partial`
  await rm(partial, { force: true })
  await rm(`${partial}.pub`, { force: true })
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', partial])
  // The private key first: a public key on disk means the pair is complete.
  await writeFileAtomic(path, await readFile(partial, 'utf8'))
  await writeFileAtomic(`${path}.pub`, await readFile(`${partial}.pub`, 'utf8'))
  await rm(partial, { force: true })
  await rm(`${partial}.pub`, { force: true })
}

/**
 * One change at a time to a lab's SSH directory: the VMs of a lab start in parallel, and two
 * first starts would both make the lab key, or write known_hosts over each other. (Other kvmctl
 * processes are kept out by the lab lock.)
 */
const queues = new Map<string, Promise<unknown>>()
function oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
  const next = (queues.get(key) ?? Promise.resolve()).then(work, work)
  queues.set(
    key,
    next.catch(() => {}),
  )
  return next
}

export interface VmKeys {
  readonly authorizedKey: string
  readonly hostPrivateKey: string
  readonly hostPublicKey: string
}

/**
 * The lab's login key and the VM's host key, made on first use and kept in the lab's
 * directory (owner only), and known_hosts rewritten to list every VM's host key.
 */
export function ensureVmKeys(lab: string, labDir: string, vm: string): Promise<VmKeys> {
  return oneAtATime(labDir, () => makeVmKeys(lab, labDir, vm))
}

async function makeVmKeys(lab: string, labDir: string, vm: string): Promise<VmKeys> {
  const files = sshFiles(labDir)
  await mkdir(files.dir, { recursive: true, mode: 0o700 })
  await ensureKeyPair(files.key, `kvmctl lab ${lab}`)
  await ensureKeyPair(files.hostKey(vm), `kvmctl ${lab}/${vm} host key`)
  await writeKnownHosts(lab, labDir)
  const [authorizedKey, hostPrivateKey, hostPublicKey] = await Promise.all([
    readFile(files.publicKey, 'utf8'),
    readFile(files.hostKey(vm), 'utf8'),
    readFile(`${files.hostKey(vm)}.pub`, 'utf8'),
  ])
  return { authorizedKey: authorizedKey.trim(), hostPrivateKey, hostPublicKey: hostPublicKey.trim() }
}

async function writeKnownHosts(lab: string, labDir: string): Promise<void> {
  const files = sshFiles(labDir)
  const lines: string[] = []
  for (const file of (await readdir(files.dir)).sort()) {
    const match = /^host-([a-z][a-z0-9-]*)\.pub$/.exec(file)
    if (!match) continue
    const [type, key] = (await readFile(`${files.dir}/${file}`, 'utf8')).trim().split(' ')
    lines.push(`${hostKeyAlias(lab, match[1]!)} ${type} ${key}`)
  }
  await writeFileAtomic(files.knownHosts, `${lines.join('\n')}\n`)
}

/** Forgets a deleted VM's host key. */
export function removeVmKeys(lab: string, labDir: string, vm: string): Promise<void> {
  return oneAtATime(labDir, () => forgetVmKeys(lab, labDir, vm))
}

async function forgetVmKeys(lab: string, labDir: string, vm: string): Promise<void> {
  const files = sshFiles(labDir)
  await rm(files.hostKey(vm), { force: true })
  await rm(`${files.hostKey(vm)}.pub`, { force: true })
  if (await exists(files.dir)) await writeKnownHosts(lab, labDir)
}

/**
 * ssh's options for logging in to a lab VM: the lab's key only, the VM's host key checked
 * strictly against the lab's known_hosts, never a password prompt.
 */
export function sshOptions(lab: string, labDir: string, vm: string): string[] {
  const files = sshFiles(labDir)
  return [
    '-i',
    files.key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `UserKnownHostsFile=${files.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `HostKeyAlias=${hostKeyAlias(lab, vm)}`,
    '-o',
    'ConnectTimeout=5',
    '-o',
    'LogLevel=ERROR',
  ]
}
