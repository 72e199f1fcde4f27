import { cloudInitText } from '../cloud-init/documents.js'
import { formatMiB, formatSize } from '../lib/units.js'
import { parseAddress } from '../model/address.js'
import { forwardText } from '../model/ports.js'
import {
  type FieldsOf,
  L2_PASS_MASK,
  type Network,
  type Resource,
  type ResourceType,
} from '../model/types.js'
import { vxlanFdb, vxlanText } from '../model/vxlan.js'
import type { Effect } from './types.js'

/**
 * The effect a change of each field has, per resource kind (docs/topology.md, "Change effects").
 * Typed by FieldsOf: every field has exactly one effect, and no effect names a field the
 * observer does not report.
 */
export const FIELD_EFFECTS: { readonly [T in ResourceType]: Readonly<Record<keyof FieldsOf[T], Effect>> } = {
  // bridge and device are derived from lab and name and cannot change; they are shown on create.
  network: {
    bridge: 'replace',
    cidr: 'in-place',
    cidr6: 'in-place',
    dhcp: 'in-place',
    dhcp_hosts: 'in-place',
    dns: 'in-place',
    nat: 'in-place',
    isolated: 'in-place',
    mtu: 'in-place',
    l2_protocols: 'in-place',
    // The device is made again (a wire down for a moment); its forwarding entries change in place.
    vxlan: 'in-place',
    vxlan_fdb: 'in-place',
  },
  // backing_file: the image's file; a url image's changes with its sha256 (a new cache entry).
  disk: {
    format: 'replace',
    image: 'replace',
    backing_file: 'replace',
    size: 'in-place',
    protect: 'in-place',
  },
  tap: {
    device: 'replace',
    bridge: 'in-place',
    peer: 'in-place',
    mtu: 'in-place',
    rate: 'in-place',
    netem: 'in-place',
  },
  vm: {
    image: 'replace',
    cpus: 'restart',
    memory: 'restart',
    accel: 'restart',
    firmware: 'restart',
    machine: 'restart',
    secure_boot: 'restart',
    tpm: 'restart',
    run_as: 'restart',
    kernel: 'restart',
    initrd: 'restart',
    cmdline: 'restart',
    nics: 'restart',
    links: 'in-place',
    disks: 'restart',
    cloud_init: 'restart',
    ports: 'in-place',
    mounts: 'restart',
    state: 'in-place',
    ready: 'in-place',
  },
}

export function desiredFields<R extends Resource>(resource: R): FieldsOf[R['type']]
export function desiredFields(resource: Resource): FieldsOf[ResourceType] {
  switch (resource.type) {
    case 'network':
      return {
        bridge: resource.bridge,
        cidr: resource.cidr,
        cidr6: resource.cidr6,
        dhcp: resource.dhcp,
        dhcp_hosts: resource.dhcp ? resource.dhcpHosts.map(dhcpHostText) : null,
        dns: resource.dhcp ? (resource.nat ? 'lab names, forwards the rest' : 'lab names') : null,
        nat: resource.nat,
        // The lab's firewall keeps every managed network's traffic on its bridge, but for NAT.
        isolated: true,
        mtu: resource.mtu,
        l2_protocols: l2ProtocolsText(resource.groupFwdMask),
        vxlan: resource.vxlan ? vxlanText(resource.vxlan, true) : null,
        vxlan_fdb: resource.vxlan ? vxlanFdb(resource.vxlan) : null,
      }
    case 'disk':
      return {
        format: resource.format,
        image: resource.image,
        backing_file: resource.backingFile,
        // A boot overlay that keeps its image's size has no size of its own to compare.
        size: resource.sizeBytes > 0 ? formatSize(resource.sizeBytes) : null,
        protect: resource.protect,
      }
    case 'tap':
      return {
        device: resource.device,
        bridge: resource.bridge,
        peer: resource.peer?.device ?? null,
        mtu: resource.mtu,
        rate: resource.rate,
        netem: resource.netem,
      }
    case 'vm':
      return {
        image: resource.image,
        cpus: resource.cpus,
        memory: formatMiB(resource.memoryMiB),
        accel: resource.accel,
        firmware: resource.firmware,
        machine: resource.machine,
        secure_boot: resource.secureBoot,
        tpm: resource.tpm,
        run_as: resource.runAs,
        kernel: resource.kernel,
        initrd: resource.initrd,
        cmdline: resource.cmdline,
        nics: resource.nics.map((nic) => `${nic.network} ${nic.mac}`),
        // Only the NICs that are down: all up, the usual case, says nothing.
        links: resource.nics.filter((nic) => nic.link === 'down').map((nic) => `${nic.name} down`),
        disks: resource.disks.map((address) => parseAddress(address)!.name),
        cloud_init: resource.cloudInit ? cloudInitText(resource.cloudInit) : null,
        ports: resource.ports.map((p) => forwardText(p, p.guestIp)).sort(),
        mounts: resource.mounts.map((m) => `${m.source} -> ${m.target}${m.readOnly ? ' (read-only)' : ''}`),
        state: resource.state,
        ready: resource.ready
          ? [
              resource.ready.serial !== null ? `serial /${resource.ready.serial}/` : null,
              resource.ready.tcp !== null ? `tcp ${resource.ready.tcp}` : null,
              resource.ready.ssh !== null ? `ssh ${JSON.stringify(resource.ready.ssh)}` : null,
              `timeout ${resource.ready.timeoutSeconds}s`,
            ]
              .filter((s) => s !== null)
              .join(', ')
          : null,
      }
  }
}

/**
 * How a dnsmasq host entry is compared: `MAC=IP,[IP6],NAME`, each part only when there is one
 * (as its config line: dnsmasq writes an IPv6 address in brackets).
 */
export function dhcpHostText(host: Network['dhcpHosts'][number]): string {
  const parts = [host.ip, host.ip6 ? `[${host.ip6}]` : null, host.name]
  return `${host.mac}=${parts.filter((v) => v !== null).join(',')}`
}

/** A bridge's group_fwd_mask as the field `l2_protocols`: null (none), `pass`, or the raw mask. */
export function l2ProtocolsText(mask: number): string | null {
  if (mask === 0) return null
  return mask === L2_PASS_MASK ? 'pass' : `group_fwd_mask 0x${mask.toString(16)}`
}
