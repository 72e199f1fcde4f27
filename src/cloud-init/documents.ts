import { createHash } from 'node:crypto'
import { isMap, isSeq, parseDocument, stringify } from 'yaml'
import { canonicalJson } from '../lib/canonical-json.js'
import type { CloudInit, Mount } from '../model/types.js'

/** Who `kvmctl ssh` logs in as when neither the topology nor the user data names a user. */
export const DEFAULT_SSH_USER = 'debian'
/** What `ready: { ssh: true }` runs: it returns once cloud-init has finished, 0 when it went well. */
export const CLOUD_INIT_WAIT = 'cloud-init status --wait'

/**
 * cloud-init reads YAML 1.1 (PyYAML), where an unquoted 52:54:00:12:34:56 is a base-60 number
 * and `yes` a boolean: every document kvmctl writes for it, or reads from the user, is 1.1.
 */
export const toCloudYaml = (value: unknown, sort = false) =>
  stringify(value, { version: '1.1', lineWidth: 0, sortMapEntries: sort })
const parseCloudYaml = (text: string) => parseDocument(text, { version: '1.1' })

/** One NIC as cloud-init's network config needs it. */
export interface SeedNic {
  /** The interface name the guest gives it. */
  readonly name: string
  readonly mac: string
  /** The NIC's fixed address with the network's prefix, like 10.0.0.5/24. */
  readonly address: string | null
  /** The network hands out addresses (a reservation gives a fixed ip the same address). */
  readonly dhcp: boolean
  /** The host's address on a NAT network: the default route. */
  readonly gateway: string | null
  /** IPv6: the fixed address with its prefix (networks without DHCP), and DHCPv6 (with DHCP). */
  readonly address6: string | null
  readonly dhcp6: boolean
}

export interface RawCloudInit {
  /** The user data's text (a file already read) or a mapping. */
  readonly userData?: string | object
  readonly metaData?: object
  readonly networkConfig?: object
  readonly sensitive?: boolean | readonly string[]
}

/**
 * The three NoCloud documents of a VM. Pure. The instance-id is derived from their content,
 * so that any change makes cloud-init run again at the next boot (cloud-init runs its
 * per-instance modules once per instance-id).
 */
export function cloudInitDocuments(
  vmName: string,
  raw: RawCloudInit,
  nics: readonly SeedNic[],
  mounts: readonly Mount[] = [],
): CloudInit {
  const userData =
    raw.userData === undefined
      ? '#cloud-config\n{}\n'
      : typeof raw.userData === 'string'
        ? raw.userData
        : `#cloud-config\n${toCloudYaml(raw.userData, true)}`
  // An empty mapping (`network_config: {}`) asks for the derived one, as an absent key does.
  const given = raw.networkConfig as Record<string, unknown> | undefined
  const networkConfig = given && Object.keys(given).length > 0 ? given : derivedNetworkConfig(nics)
  const vendorData = mountsVendorData(mounts)
  const meta = { 'local-hostname': vmName, ...(raw.metaData as Record<string, unknown> | undefined) }
  const hash = createHash('sha256')
    .update(userData)
    .update('\0')
    .update(canonicalJson(meta))
    .update('\0')
    .update(canonicalJson(networkConfig))
  // Only when there is one: a VM without mounts keeps the instance-id it had before mounts existed.
  if (vendorData) hash.update('\0').update(vendorData)
  const digest = hash.digest('hex')
  const metaData = { 'instance-id': `kvmctl-${digest.slice(0, 16)}`, ...meta }
  return { userData, metaData, networkConfig, vendorData, sensitive: raw.sensitive ?? [] }
}

/**
 * The guest side of `mounts:`: cloud-init's mounts module writes them to /etc/fstab and mounts
 * them (virtio-9p, by tag). Part of the instance-id, so that a change is applied at the next boot.
 */
export function mountsVendorData(mounts: readonly Mount[]): string | null {
  if (mounts.length === 0) return null
  const entries = mounts.map((m) => [
    m.tag,
    m.target,
    '9p',
    `trans=virtio,version=9p2000.L,msize=262144,${m.readOnly ? 'ro' : 'rw'},nofail`,
    '0',
    '0',
  ])
  return `#cloud-config\n${toCloudYaml({ mounts: entries })}`
}

/**
 * Network config version 2 for the VM's NICs, matched by MAC and named eth0, eth1... in NIC
 * order: DHCP on networks that serve it, the fixed address elsewhere, nothing on the rest.
 */
export function derivedNetworkConfig(nics: readonly SeedNic[]): Record<string, unknown> {
  const ethernets: Record<string, unknown> = {}
  for (const nic of nics) {
    const name = nic.name
    const base = { match: { macaddress: nic.mac }, 'set-name': name }
    // IPv6 next to IPv4: DHCPv6 where the network serves it (a reservation is the address), a
    // fixed address elsewhere.
    const addresses = [nic.address, nic.address6].filter((a) => a !== null)
    if (nic.dhcp) ethernets[name] = { ...base, dhcp4: true, ...(nic.dhcp6 ? { dhcp6: true } : {}) }
    else if (addresses.length > 0) {
      ethernets[name] = {
        ...base,
        addresses,
        ...(nic.gateway ? { routes: [{ to: '0.0.0.0/0', via: nic.gateway }] } : {}),
      }
    } else ethernets[name] = { ...base, dhcp4: false, optional: true }
  }
  return { version: 2, ethernets }
}

/** How the plan shows a seed: one YAML text, so that a change shows line by line. */
export function cloudInitText(cloudInit: CloudInit): string {
  return toCloudYaml({
    'user-data': cloudInit.userData,
    'meta-data': cloudInit.metaData,
    'network-config': cloudInit.networkConfig,
  }).trimEnd()
}

export interface LabKeys {
  /** The lab's public key (`ssh-ed25519 AAAA... comment`), for the default user. */
  readonly authorizedKey: string
  /** The VM's own host key pair, so that the host knows the guest's key before it boots. */
  readonly hostPrivateKey: string
  readonly hostPublicKey: string
}

/**
 * The user data the guest gets: a #cloud-config gains the lab's login key (unless it manages
 * keys itself) and the VM's host key (unless it sets ssh_keys). Other kinds of user data (a
 * script, a MIME archive) are passed as they are.
 */
export function withLabKeys(userData: string, keys: LabKeys): string {
  if (!/^#cloud-config[ \t]*\r?\n/.test(userData)) return userData
  const doc = parseCloudYaml(userData)
  if (doc.errors.length > 0 || !(isMap(doc.contents) || doc.contents === null)) return userData
  const config = (doc.toJS() ?? {}) as Record<string, unknown>
  if (!managesLoginKeys(config)) {
    // The default user, and every user the user data creates, so that `kvmctl ssh` can log in.
    config.ssh_authorized_keys = [keys.authorizedKey]
    if (Array.isArray(config.users)) {
      config.users = config.users.map((u) =>
        typeof u === 'object' && u !== null ? { ...u, ssh_authorized_keys: [keys.authorizedKey] } : u,
      )
    }
  }
  if (config.ssh_keys === undefined) {
    config.ssh_keys = { ed25519_private: keys.hostPrivateKey, ed25519_public: keys.hostPublicKey }
  }
  return `#cloud-config\n${toCloudYaml(config)}`
}

function managesLoginKeys(config: Record<string, unknown>): boolean {
  if (config.ssh_authorized_keys !== undefined) return true
  const users = Array.isArray(config.users) ? config.users : []
  return users.some(
    (u) =>
      typeof u === 'object' &&
      u !== null &&
      ('ssh_authorized_keys' in u || 'ssh_import_id' in u || 'ssh_redirect_user' in u),
  )
}

/** The login user the user data names (`user:`, or the first entry of `users:`), if any. */
export function userDataUser(userData: string): string | null {
  if (!/^#cloud-config[ \t]*\r?\n/.test(userData)) return null
  const doc = parseCloudYaml(userData)
  if (doc.errors.length > 0 || !isMap(doc.contents)) return null
  const config = doc.toJS() as Record<string, unknown>
  const nameOf = (u: unknown): string | null =>
    typeof u === 'string' && u !== 'default'
      ? u
      : typeof u === 'object' && u !== null && typeof (u as { name?: unknown }).name === 'string'
        ? (u as { name: string }).name
        : null
  if (config.user !== undefined) return nameOf(config.user)
  const users = doc.get('users')
  if (isSeq(users)) {
    for (const u of config.users as unknown[]) {
      const name = nameOf(u)
      if (name) return name
    }
  }
  return null
}
