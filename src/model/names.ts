import { createHash } from 'node:crypto'

/** Linux refuses interface names longer than 15 bytes (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15
const HASH_CHARS = 6
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

function hash32(text: string, length: number): string {
  const digest = createHash('sha256').update(text).digest()
  let out = ''
  for (let i = 0; out.length < length; i++) out += BASE32[digest[i]! & 31]
  return out
}

/**
 * A host interface name for a resource of a lab: `k` + kind letter + a hash of the lab
 * and the address + as much of the readable name as fits. The hash makes names of two
 * labs (or two addresses) differ even where the readable part is cut, so the result is
 * always at most 15 bytes and never collides by construction; `kvmctl status` shows the
 * mapping and the interface alias carries the full address.
 *   network/lan of lab demo → kbq3x7mz-lan      tap/web.0 → ktx1c9pe-web.0
 * A spanning network's VXLAN device is `kv...-lan`.
 */
export function hostInterfaceName(kind: 'bridge' | 'tap' | 'vxlan', lab: string, name: string): string {
  const prefix = `k${kind[0]}${hash32(`${lab}\0${kind}/${name}`, HASH_CHARS)}-`
  const room = IFNAME_MAX - prefix.length
  return prefix + shorten(name, room)
}

/**
 * The VXLAN network identifier of a network that spans hosts, when the topology gives none: 24
 * bits of a hash of lab and network, never 0. The same on every host and for every run, so that
 * nobody matches VNIs by hand; a clash with a device the host already has is a plan error.
 */
export function derivedVni(lab: string, network: string): number {
  const digest = createHash('sha256').update(`${lab}\0vni\0${network}`).digest()
  return digest.readUIntBE(0, 3) || 1
}

/** Keeps a trailing `.N` (a NIC index) visible when the name has to be cut. */
function shorten(name: string, room: number): string {
  if (name.length <= room) return name
  const dot = name.lastIndexOf('.')
  const suffix = dot > 0 ? name.slice(dot) : ''
  if (suffix.length >= room) return name.slice(0, room)
  return name.slice(0, room - suffix.length) + suffix
}

/** The kernel's own rule for interface names (dev_valid_name), applied to user-given names. */
export function interfaceNameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty'
  if (Buffer.byteLength(name) > IFNAME_MAX) {
    return `is ${Buffer.byteLength(name)} bytes long; Linux allows at most ${IFNAME_MAX}`
  }
  if (name === '.' || name === '..') return 'is not a valid interface name'
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or white space, which Linux refuses in interface names'
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return 'may only contain letters, digits, ".", "_" and "-"'
  return null
}

/**
 * A stable, locally administered unicast MAC for a NIC: 52:54:00 (QEMU's prefix) followed
 * by three bytes of a hash of lab, VM and NIC index.
 */
export function derivedMac(lab: string, vm: string, index: number): string {
  const digest = createHash('sha256').update(`${lab}\0${vm}\0${index}`).digest()
  const tail = [digest[0]!, digest[1]!, digest[2]!].map((b) => b.toString(16).padStart(2, '0'))
  return ['52', '54', '00', ...tail].join(':')
}

/** Whose an object is: a lab, and the state directory that keeps it (one lab name, one owner). */
export interface LabOwner {
  readonly lab: string
  readonly stateDir: string
}

/**
 * The marker kvmctl writes into the alias of every link it creates: `kvmctl:LAB:ADDRESS:STATEDIR`.
 * The state directory makes a lab of the same name kept by another state directory a stranger
 * (whose links this one neither adopts nor deletes), and lets the plan name it.
 */
export function ownershipMarker(owner: LabOwner, address: string): string {
  return `kvmctl:${owner.lab}:${address}:${owner.stateDir}`
}

export function parseOwnershipMarker(
  alias: string | undefined | null,
): (LabOwner & { address: string }) | null {
  if (!alias?.startsWith('kvmctl:')) return null
  const [lab, address, ...stateDir] = alias.slice('kvmctl:'.length).split(':')
  if (!lab || !address) return null
  return { lab, address, stateDir: stateDir.join(':') }
}
