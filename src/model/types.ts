import type { PortSpec } from './ports.js'
/**
 * The resolved topology: what the user asked for, with defaults filled, host names
 * derived and cross-references checked. Everything downstream (planner, executor,
 * renderers) works on these types and never on raw YAML.
 */

export type ResourceType = 'network' | 'disk' | 'tap' | 'vm'
export type Address = string
export type Accel = 'auto' | 'kvm' | 'tcg'
export type VmState = 'running' | 'paused' | 'stopped'
export type DiskFormat = 'qcow2' | 'raw'
export type Firmware = 'bios' | 'uefi'
export type Machine = 'pc' | 'q35'

/** A value that a field of a resource can take; what the planner compares. */
export type FieldValue = string | number | boolean | null | readonly string[]
export type Fields = Readonly<Record<string, FieldValue>>

/**
 * The fields the planner compares, per resource kind: the desired side (src/plan/fields.ts), the
 * observer (src/host/observe.ts) and the effects table are all typed by these, so that a field one
 * of them names and another does not is a compile error, not a difference that never goes away.
 */
export type NetworkFields = {
  readonly bridge: string
  readonly cidr: string | null
  readonly cidr6: string | null
  readonly dhcp: boolean
  readonly dhcp_hosts: readonly string[] | null
  /** What the network's DNS answers: the lab's names only, or those and the rest forwarded. */
  readonly dns: 'lab names' | 'lab names, forwards the rest' | null
  readonly nat: boolean
  readonly isolated: boolean
  readonly mtu: number | null
  /** The link-local protocols the bridge forwards beyond its default: `pass`, or its raw mask. */
  readonly l2_protocols: string | null
  /** A spanning network's VXLAN device on this host: `vni 42 port 4789 local 10.0.0.1 dev eth0`. */
  readonly vxlan: string | null
  /** Its forwarding entries: `00:00:00:00:00:00 10.0.0.2` per peer, `MAC 10.0.0.3` per remote NIC. */
  readonly vxlan_fdb: readonly string[] | null
}

export type DiskFields = {
  readonly format: string
  readonly image: string | null
  readonly backing_file: string | null
  readonly size: string | null
  /** null: not known (the disk's record is lost). */
  readonly protect: boolean | null
}

export type TapFields = {
  readonly device: string
  readonly bridge: string | null
  /** On a p2p network: the tap its ingress is redirected to (the other end of the wire). */
  readonly peer: string | null
  readonly mtu: number | null
  readonly rate: string | null
  readonly netem: string | null
}

export type VmFields = {
  readonly image: string | null
  readonly cpus: number
  readonly memory: string
  readonly accel: string
  readonly firmware: string
  readonly machine: string
  readonly secure_boot: boolean
  readonly tpm: boolean
  readonly run_as: string | null
  readonly kernel: string | null
  readonly initrd: string | null
  readonly cmdline: string | null
  readonly nics: readonly string[]
  /** The NICs whose carrier is cut, as their guest sees it: `eth1 down`; the others are up. */
  readonly links: readonly string[]
  readonly disks: readonly string[]
  readonly cloud_init: string | null
  /** Host ports forwarded to it, as `8080->10.0.0.5:80/tcp`, read from the lab's firewall. */
  readonly ports: readonly string[]
  /** Shared folders, as `/host/dir -> /guest/dir` (and `(read-only)`). */
  readonly mounts: readonly string[]
  /** running, paused or stopped; observed also `unresponsive`. */
  readonly state: string
  readonly ready: string | null
}

export interface FieldsOf {
  readonly network: NetworkFields
  readonly disk: DiskFields
  readonly tap: TapFields
  readonly vm: VmFields
}

export interface Network {
  readonly type: 'network'
  readonly address: Address
  readonly name: string
  /** The host bridge: derived, or the user's `external` bridge (a p2p network has none on the host). */
  readonly bridge: string
  readonly external: boolean
  /** A wire between two NICs: their taps redirect to each other (tc mirred), no bridge. */
  readonly p2p: boolean
  /** The bridge's group_fwd_mask: 0, or L2_PASS_MASK for `l2_protocols: pass`. */
  readonly groupFwdMask: number
  readonly cidr: string | null
  /** The bridge's own address with prefix, the first host of the cidr. */
  readonly hostAddress: string | null
  /** The bridge's IPv6 network, canonical, and its own address on it (prefix::1/64). */
  readonly cidr6: string | null
  readonly hostAddress6: string | null
  readonly dhcp: boolean
  /**
   * What the network's dnsmasq knows of each NIC on it, sorted by MAC: its fixed ip (a
   * reservation) if it has one, and the VM's name, which its DNS answers (on the VM's first NIC
   * on the network; null on the others).
   */
  readonly dhcpHosts: readonly {
    readonly mac: string
    readonly ip: string | null
    readonly ip6: string | null
    readonly name: string | null
  }[]
  /** The DNS domain of the lab's names: `web.<lab>.internal`. */
  readonly domain: string
  /** The dynamic range: the upper half of the cidr, below the broadcast address. */
  readonly dhcpRange: readonly [string, string] | null
  /** The DHCPv6 dynamic range, prefix::1000 to prefix::1fff; reservations usually sit lower. */
  readonly dhcp6Range: readonly [string, string] | null
  readonly nat: boolean
  readonly mtu: number | null
  /**
   * In a lab with hosts: the host with the network's gateway address, dnsmasq and NAT, and
   * every host with a NIC on it (in the order of hosts:). Null and [] in a lab without hosts.
   */
  readonly home: string | null
  readonly hosts: readonly string[]
  /** On a network that spans hosts: its VXLAN identifier and UDP port. */
  readonly vni: number | null
  readonly vxlanPort: number
  /** Only in one host's part of a spanning network (src/model/placement.ts): its VXLAN device. */
  readonly vxlan: Vxlan | null
}

/** One host's end of a spanning network: a VXLAN device on its bridge, head-end replication. */
export interface Vxlan {
  readonly device: string
  readonly vni: number
  readonly port: number
  /** This host's underlay address and the link that holds it. */
  readonly local: string
  readonly dev: string
  /** The other hosts' underlay addresses: an all-zero FDB entry each (broadcast, unknown unicast). */
  readonly peers: readonly string[]
  /** The MACs of the NICs on the other hosts, and the underlay address of the host of each. */
  readonly macs: readonly { readonly mac: string; readonly dst: string }[]
}

export interface Disk {
  readonly type: 'disk'
  readonly address: Address
  readonly name: string
  readonly path: string
  readonly format: DiskFormat
  /** 0 for a boot overlay that keeps its image's size. */
  readonly sizeBytes: number
  readonly protect: boolean
  /** For a VM's boot disk: the VM's name. */
  readonly vm: string | null
  /** For a boot disk made on an image: the image's name and its backing file. */
  readonly image: string | null
  readonly backingFile: string | null
  readonly backingFormat: DiskFormat | null
}

export interface Tap {
  readonly type: 'tap'
  readonly address: Address
  readonly name: string
  readonly vm: string
  readonly index: number
  /** The interface name in the guest: `name`, else eth0, eth1... by NIC order. */
  readonly guestName: string
  readonly device: string
  readonly network: string
  /** The host bridge the tap is attached to; null on a p2p network. */
  readonly bridge: string | null
  /** On a p2p network: the other end's tap, to which every frame from this one is redirected. */
  readonly peer: { readonly address: Address; readonly device: string } | null
  readonly mac: string
  readonly ip: string | null
  readonly ip6: string | null
  readonly mtu: number | null
  /** tc tbf on the tap (traffic to the guest), like 10mbit. */
  readonly rate: string | null
  /** tc netem options, like `delay 50ms 5ms loss 1%`, or null. */
  readonly netem: string | null
}

/** A VM's view of one NIC: QEMU needs the tap's host name and the guest's MAC. */
export interface VmNic {
  readonly tap: Address
  readonly device: string
  readonly network: string
  readonly mac: string
  /** The interface name in the guest: `name`, else eth0, eth1... by NIC order. */
  readonly name: string
  /** The carrier the guest sees: QEMU's link state of the NIC (QMP set_link). */
  readonly link: 'up' | 'down'
  /** The network's mtu, which the guest's NIC is told (virtio host_mtu) when it is not 1500. */
  readonly mtu: number | null
}

export interface Ready {
  readonly serial: string | null
  readonly tcp: number | null
  /** A command run over ssh with the lab's key that must exit 0. */
  readonly ssh: string | null
  readonly timeoutSeconds: number
}

export interface Vm {
  readonly type: 'vm'
  readonly address: Address
  readonly name: string
  /** The host of hosts: that runs it, or null in a lab without hosts. */
  readonly host: string | null
  readonly cpus: number
  readonly memoryMiB: number
  readonly accel: Accel
  /** bios (SeaBIOS) or uefi (OVMF, with the VM's own NVRAM in its run directory). */
  readonly firmware: Firmware
  readonly machine: Machine
  /** OVMF's Secure Boot build, Microsoft's keys enrolled in the NVRAM (uefi and q35 only). */
  readonly secureBoot: boolean
  /** A TPM 2.0 through a swtpm of the VM's own, its state in the run directory. */
  readonly tpm: boolean
  readonly image: string | null
  readonly kernel: string | null
  readonly initrd: string | null
  readonly cmdline: string | null
  readonly bootDisk: Address
  readonly disks: readonly Address[]
  readonly nics: readonly VmNic[]
  readonly cloudInit: CloudInit | null
  /** The guest user that `kvmctl ssh` and `ready: ssh` log in as. */
  readonly sshUser: string
  /** Labels to pick VMs by (kvmctl exec --label); nothing on the host. */
  readonly labels: Readonly<Record<string, string>>
  /** Host ports forwarded to the guest (ports:), in the lab's firewall. */
  readonly ports: readonly PortForward[]
  /** Host directories shared with the guest through virtio-9p (mounts:), mounted by cloud-init. */
  readonly mounts: readonly Mount[]
  /** The host user QEMU runs as once set up (-runas), or null: the user running kvmctl. */
  readonly runAs: string | null
  readonly state: VmState
  readonly ready: Ready | null
  readonly shutdownTimeoutSeconds: number
  /** Where its pid file, QMP and console sockets live. */
  readonly runDir: string
}

/** A forward of a host port to the VM's address on its first NIC of a network with a cidr. */
export interface PortForward extends PortSpec {
  readonly guestIp: string
  /** The bridge that address is behind. */
  readonly bridge: string
}

export interface Mount {
  /** The host directory (absolute). */
  readonly source: string
  /** Where the guest mounts it. */
  readonly target: string
  readonly readOnly: boolean
  /** Its 9p mount tag: mount0, mount1... in order. */
  readonly tag: string
}

/**
 * A VM's NoCloud seed, as the guest will read it, but for the lab's SSH keys (added when the
 * seed is built: they are made on the host at apply time and are not part of the plan).
 */
export interface CloudInit {
  /** The user data's text: a file's content, an inline text, or a mapping as #cloud-config. */
  readonly userData: string
  /** With instance-id (derived from the seed's content) and local-hostname filled in. */
  readonly metaData: Readonly<Record<string, unknown>>
  /** The user's network config, or one derived from the VM's NICs. */
  readonly networkConfig: Readonly<Record<string, unknown>>
  /** kvmctl's own cloud-config (the mounts), as the seed's vendor-data; the user data overrides it. */
  readonly vendorData: string | null
  /** Top-level user data keys to print as `(sensitive)` besides the secrets kvmctl knows; true: all. */
  readonly sensitive: boolean | readonly string[]
}

export type Resource = Network | Disk | Tap | Vm

export interface Image {
  readonly name: string
  readonly kernel: string | null
  readonly initrd: string | null
  readonly cmdline: string | null
  readonly path: string | null
  readonly url: string | null
  /**
   * What a url image's file must hash to, as `sha256:HEX` or `sha512:HEX`: from the topology,
   * or, for an image with `checksums`, from its SUMS file once observed (null until then).
   */
  readonly digest: string | null
  /** The url of the SHA256SUMS or SHA512SUMS file that gives the digest. */
  readonly checksums: string | null
  /** A url image's download stops past this many bytes. */
  readonly maxSizeBytes: number
  readonly firmware: Firmware | null
  readonly machine: Machine | null
  readonly secureBoot: boolean | null
  readonly tpm: boolean | null
}

/** A machine of a lab that spans hosts (hosts:). */
export interface LabHost {
  readonly name: string
  /** What `ssh` is given (user@address, an alias of the ssh_config), or `local`: no ssh. */
  readonly ssh: string
  /** The address the other hosts reach it at: the end of the lab's VXLAN wires. */
  readonly underlay: string | null
  /** The state directory there, or null: that kvmctl's default. */
  readonly stateDir: string | null
  /** The kvmctl command there. */
  readonly kvmctl: string
}

export interface Topology {
  readonly lab: string
  /** The machines the lab spans, in the order of hosts:, or none: the lab is this machine's. */
  readonly hosts: readonly LabHost[]
  /** In one host's part of the lab (src/model/placement.ts): that host; null for the whole lab. */
  readonly host: string | null
  readonly file: string
  readonly stateDir: string
  /** The lab's own directory under the state directory: everything kvmctl writes for it. */
  readonly labDir: string
  /** How long the lab may live after each apply (`ttl`), or null: no expiry. */
  readonly ttlSeconds: number | null
  readonly images: Readonly<Record<string, Image>>
  readonly networks: readonly Network[]
  readonly disks: readonly Disk[]
  readonly taps: readonly Tap[]
  readonly vms: readonly Vm[]
  /** What proves the lab works: `kvmctl check` and `kvmctl test` run them; no host object. */
  readonly checks: readonly Check[]
  /**
   * In the part of a host that is not this machine: the files of the topology its VMs boot from,
   * which the controller copies into that host's image cache (src/model/placement.ts).
   */
  readonly puts?: readonly FilePut[]
}

/**
 * A file the topology names (an image's path, kernel or initrd), for a host other than this
 * machine: kept in that host's image cache under its sha256, where the part's VMs and disks
 * find it. Named by content, a file in the cache never changes under a disk that it backs.
 */
export interface FilePut {
  /** `image/NAME kernel`: what the file is to the topology. */
  readonly what: string
  /** The file on this machine, as the topology names it. */
  readonly source: string
  readonly sha256: string
  readonly bytes: number
  /** Where it is on the host: `<state>/images/<sha256>`. */
  readonly path: string
}

export interface Check {
  readonly name: string
  readonly vm: string
  readonly run: string
  readonly retries: number
  readonly intervalSeconds: number
  readonly timeoutSeconds: number
}

/**
 * `l2_protocols: pass`: the bits of 01:80:c2:00:00:0X a Linux bridge may forward (LLDP is bit
 * 14); bits 0-2 (STP, PAUSE, LACP) the kernel refuses. STP BPDUs pass anyway while the bridge
 * runs no STP of its own, which kvmctl's never do.
 */
export const L2_PASS_MASK = 0xfff8

export const RESOURCE_ORDER: readonly ResourceType[] = ['network', 'disk', 'tap', 'vm']
