/** The topology as written in YAML, after the schema check (keys as in docs/topology.md). */

export interface RawImage {
  kernel?: string
  initrd?: string
  cmdline?: string
  path?: string
  url?: string
  sha256?: string
  sha512?: string
  checksums?: string
  max_size?: number | string
  firmware?: 'bios' | 'uefi'
  machine?: 'pc' | 'q35'
  secure_boot?: boolean
  tpm?: boolean
}

export interface RawNetwork {
  cidr?: string
  cidr6?: string
  dhcp?: boolean
  nat?: boolean
  mtu?: number
  external?: string
  type?: 'bridge' | 'p2p'
  l2_protocols?: 'pass'
  home?: string
  vni?: number
  vxlan_port?: number
}

export interface RawDisk {
  size: number | string
  format?: 'qcow2' | 'raw'
  protect?: boolean
}

export interface RawNic {
  network: string
  name?: string
  link?: 'up' | 'down'
  ip?: string
  ip6?: string
  mac?: string
  rate?: string
  delay?: number | string
  jitter?: number | string
  loss?: string
}

export interface RawVm {
  image: string
  host?: string
  labels?: Record<string, string>
  ports?: string[]
  mounts?: { source: string; target: string; readonly?: boolean }[]
  firmware?: 'bios' | 'uefi'
  machine?: 'pc' | 'q35'
  secure_boot?: boolean
  tpm?: boolean
  disk_size?: number | string
  cpus?: number
  memory?: number | string
  accel?: 'auto' | 'kvm' | 'tcg'
  cmdline?: string
  nics?: RawNic[]
  disks?: string[]
  cloud_init?: {
    user_data?: string | object
    meta_data?: object
    network_config?: object
    sensitive?: boolean | string[]
  }
  state?: 'running' | 'paused' | 'stopped'
  shutdown_timeout?: number | string
  ready?: { serial?: string; tcp?: number; ssh?: boolean | string; timeout?: number | string }
  ssh_user?: string
  run_as?: string
}

export interface RawDefaults {
  cpus?: number
  memory?: number | string
  accel?: 'auto' | 'kvm' | 'tcg'
  disk_size?: number | string
  shutdown_timeout?: number | string
  ssh_user?: string
  run_as?: string
}

export interface RawCheck {
  vm: string
  run: string
  retries?: number
  interval?: number | string
  timeout?: number | string
}

export interface RawHost {
  ssh: string
  underlay?: string
  state_dir?: string
  kvmctl?: string
}

export interface RawTopology {
  name: string
  hosts?: Record<string, RawHost>
  checks?: Record<string, RawCheck>
  ttl?: number | string
  defaults?: RawDefaults
  images?: Record<string, RawImage>
  networks?: Record<string, RawNetwork>
  disks?: Record<string, RawDisk>
  vms?: Record<string, RawVm>
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The entries of a mapping that is one, or none: semantic checks must survive schema errors. */
export function entriesOf(value: unknown): [string, Record<string, unknown>][] {
  if (!isRecord(value)) return []
  return Object.entries(value).filter((entry): entry is [string, Record<string, unknown>] =>
    isRecord(entry[1]),
  )
}
