import { type LabOwner, ownershipMarker } from '../model/names.js'
import type { Network, Tap } from '../model/types.js'
import { run } from './exec.js'

/**
 * Runs several `ip` commands in one process (`ip -batch -`), which reads them all before it
 * starts: a link is created and marked as ours in one go, so that a kvmctl killed at any
 * moment never leaves an unmarked link with a name the lab needs.
 */
export async function ipBatch(commands: readonly (readonly string[])[]): Promise<void> {
  await run('ip', ['-batch', '-'], {
    input: `${commands.map((c) => c.map(quoteBatchWord).join(' ')).join('\n')}\n`,
  })
}

/** ip's batch reader splits on white space and honours double quotes; our words have neither. */
function quoteBatchWord(word: string): string {
  if (/[\s"\\]/.test(word)) throw new Error(`refusing to pass ${JSON.stringify(word)} to ip -batch`)
  return word
}

export async function createBridge(owner: LabOwner, network: Network): Promise<void> {
  const commands: string[][] = [
    ['link', 'add', 'name', network.bridge, 'type', 'bridge', ...groupFwdMask(network)],
    [
      'link',
      'set',
      'dev',
      network.bridge,
      'alias',
      ownershipMarker(owner, network.address),
      'mtu',
      String(network.mtu ?? 1500),
      'up',
    ],
  ]
  commands.push(...hostAddresses(network))
  await ipBatch(commands)
}

/**
 * The bridge's own addresses: the first of the cidr, and prefix::1 of the cidr6 (nodad: the
 * address is the lab's alone, and duplicate address detection would hold it back a second).
 */
function hostAddresses(network: Network): string[][] {
  return [
    ...(network.hostAddress ? [['addr', 'add', network.hostAddress, 'dev', network.bridge]] : []),
    ...(network.hostAddress6 ? [['addr', 'add', network.hostAddress6, 'dev', network.bridge, 'nodad']] : []),
  ]
}

/** `l2_protocols`: the link-local groups the bridge forwards (ip takes the mask, 0 for none). */
export async function setBridgeL2Protocols(network: Network): Promise<void> {
  await run('ip', ['link', 'set', 'dev', network.bridge, 'type', 'bridge', ...groupFwdMask(network)])
}

const groupFwdMask = (network: Network) => ['group_fwd_mask', `0x${network.groupFwdMask.toString(16)}`]

/** The bridge's MTU, and its VXLAN device's on a network that spans hosts. */
export async function setBridgeMtu(network: Network): Promise<void> {
  const mtu = String(network.mtu ?? 1500)
  await ipBatch([
    ['link', 'set', 'dev', network.bridge, 'mtu', mtu],
    ...(network.vxlan ? [['link', 'set', 'dev', network.vxlan.device, 'mtu', mtu]] : []),
  ])
}

/** Replaces the bridge's addresses (a cidr or cidr6 change) with the new networks' host addresses. */
export async function setBridgeAddress(network: Network): Promise<void> {
  await ipBatch([['addr', 'flush', 'dev', network.bridge, 'scope', 'global'], ...hostAddresses(network)])
}

export async function createTap(owner: LabOwner, tap: Tap): Promise<void> {
  await ipBatch([
    ['tuntap', 'add', 'dev', tap.device, 'mode', 'tap', 'vnet_hdr'],
    ['link', 'set', 'dev', tap.device, 'alias', ownershipMarker(owner, tap.address), ...tapSettings(tap)],
  ])
}

/**
 * Attaches the tap to its bridge (a p2p tap to none) with its mtu, and brings it up: also the
 * repair of a detached tap.
 */
export async function attachTap(tap: Tap): Promise<void> {
  await run('ip', ['link', 'set', 'dev', tap.device, ...tapSettings(tap)])
}

function tapSettings(tap: Tap): string[] {
  return [
    ...(tap.bridge ? ['master', tap.bridge] : ['nomaster']),
    ...(tap.mtu ? ['mtu', String(tap.mtu)] : []),
    'up',
  ]
}

export async function deleteLink(name: string): Promise<void> {
  try {
    await run('ip', ['link', 'del', 'dev', name])
  } catch (error) {
    // Already gone is what we wanted.
    if (/Cannot find device|does not exist/.test((error as Error).message)) return
    throw error
  }
}
