import type { Vm } from './types.js'

/**
 * The state directory's layout: the one place that names the files and directories kvmctl keeps.
 * Every reader and writer takes its paths from here, built from the state directory, the lab and
 * a resource's name; never from the content of a record (a record is a hint, not an authority).
 *
 *   <state>/images/<sha256>               the image cache, shared by every lab on the host
 *                  <sha256>.partial       a download in progress
 *   <state>/<lab>/lab.json                the lab's record: which topology file made it
 *   <state>/<lab>/disks/<name>.<format>   a disk image, and <name>.json its record
 *   <state>/<lab>/vm-<name>/              spec.json, qemu.pid, qmp.sock, serial.sock, serial.log,
 *                                         qemu.log, seed.iso (seed.d while it is built),
 *                                         OVMF_VARS.fd or OVMF_VARS.ms.fd (a uefi VM's NVRAM),
 *                                         swtpm.sock, swtpm.pid, swtpm.log, tpm2.state (its TPM)
 *   <state>/<lab>/net-<name>/             dnsmasq.conf, dnsmasq.pid, leases, dnsmasq.log
 *   <state>/<lab>/ssh/                    id_ed25519(.pub), host-<vm>(.pub), known_hosts
 *   <state>/<lab>/snapshots/<name>.json   a snapshot's record (its data is inside the qcow2 disks)
 *
 * Files are written under `<file>.tmp-<pid>` or `<file>.partial` and renamed into place.
 */

export const labDirOf = (stateDir: string, lab: string): string => `${stateDir}/${lab}`
export const imageCacheDir = (stateDir: string): string => `${stateDir}/images`

export function imageFiles(stateDir: string, sha256: string) {
  const path = `${imageCacheDir(stateDir)}/${sha256}`
  return { path, partial: `${path}.partial` }
}

export function labFiles(labDir: string) {
  return { record: `${labDir}/lab.json`, disks: `${labDir}/disks` }
}

/** A disk's record, and the disk names that have one in the lab's disks directory. */
export const diskRecordFile = (labDir: string, name: string): string => `${labDir}/disks/${name}.json`
/** The disk a file of the disks directory belongs to: its record or its image (not a temporary). */
export const diskOfFile = (file: string): string | null => /^(.+)\.(json|qcow2|raw)$/.exec(file)?.[1] ?? null

export function diskFiles(labDir: string, name: string, format: string) {
  const image = `${labDir}/disks/${name}.${format}`
  return { image, partial: `${image}.partial`, record: diskRecordFile(labDir, name) }
}

const VM_DIR = 'vm-'
const NET_DIR = 'net-'

export const vmDir = (labDir: string, vm: string): string => `${labDir}/${VM_DIR}${vm}`

/** The files of one VM under its run directory. */
export function vmFiles(runDir: string) {
  return {
    dir: runDir,
    spec: `${runDir}/spec.json`,
    pid: `${runDir}/qemu.pid`,
    qmp: `${runDir}/qmp.sock`,
    serial: `${runDir}/serial.sock`,
    log: `${runDir}/serial.log`,
    qemuLog: `${runDir}/qemu.log`,
    seed: `${runDir}/seed.iso`,
    seedWork: `${runDir}/seed.d`,
    /** A uefi VM's own UEFI variables (NVRAM): a copy of OVMF's template, kept across restarts. */
    nvram: `${runDir}/OVMF_VARS.fd`,
    /** The same with Secure Boot: a copy of the template with Microsoft's keys enrolled. */
    nvramSecureBoot: `${runDir}/OVMF_VARS.ms.fd`,
    /** The VM's swtpm: QEMU's control socket to it, its pid and log, and the TPM's state. */
    swtpmSocket: `${runDir}/swtpm.sock`,
    swtpmPid: `${runDir}/swtpm.pid`,
    swtpmLog: `${runDir}/swtpm.log`,
    tpmState: `${runDir}/tpm2.state`,
  }
}

/** The NVRAM a VM boots with, or null (bios). Its name says which template it was copied from. */
export function nvramOf(vm: Pick<Vm, 'runDir' | 'firmware' | 'secureBoot'>): string | null {
  if (vm.firmware !== 'uefi') return null
  const files = vmFiles(vm.runDir)
  return vm.secureBoot ? files.nvramSecureBoot : files.nvram
}

export function dhcpFiles(labDir: string, network: string) {
  const dir = `${labDir}/${NET_DIR}${network}`
  return {
    dir,
    conf: `${dir}/dnsmasq.conf`,
    pid: `${dir}/dnsmasq.pid`,
    leases: `${dir}/leases`,
    log: `${dir}/dnsmasq.log`,
  }
}

export function sshFiles(labDir: string) {
  const dir = `${labDir}/ssh`
  return {
    dir,
    key: `${dir}/id_ed25519`,
    publicKey: `${dir}/id_ed25519.pub`,
    knownHosts: `${dir}/known_hosts`,
    hostKey: (vm: string) => `${dir}/host-${vm}`,
  }
}

/** The lab's snapshot records; a snapshot's disks and memory are inside the disks' qcow2 files. */
export function snapshotFiles(labDir: string) {
  const dir = `${labDir}/snapshots`
  return { dir, record: (name: string) => `${dir}/${name}.json` }
}

/** The tag of a kvmctl snapshot inside a qcow2 file: kvmctl never touches another tag. */
export const snapshotTag = (name: string): string => `kvmctl-${name}`

/** The VM or network a directory of the lab belongs to, from its name (`vm-web` → web). */
export function resourceOfDir(dir: string): { kind: 'vm' | 'network'; name: string } | null {
  if (dir.startsWith(VM_DIR)) return { kind: 'vm', name: dir.slice(VM_DIR.length) }
  if (dir.startsWith(NET_DIR)) return { kind: 'network', name: dir.slice(NET_DIR.length) }
  return null
}

/** `<file>.tmp-<pid>`: the pid of the kvmctl that was writing it, or NaN. */
export const temporaryOwner = (file: string): number => Number(/\.tmp-(\d+)$/.exec(file)?.[1])
export const temporaryName = (path: string, pid: number): string => `${path}.tmp-${pid}`

/**
 * The names of the files kvmctl makes in a lab's directories, as the sweep after a destroy
 * recognises them: only these are removed, never a file somebody else put there.
 */
const OWN_FILE =
  /^(lab\.json|spec\.json|OVMF_VARS(\.ms)?\.fd|swtpm\.(sock|pid|log)|tpm2\.state|qemu\.log|qemu\.pid|qmp\.sock|serial\.sock|serial\.log|seed\.iso|dnsmasq\.(conf|pid|log)|leases|id_ed25519(\.pub)?|host-[a-z0-9-]+(\.pub)?|known_hosts|[a-z0-9.-]+\.json|[a-z0-9.-]+\.partial(\.pub)?)$|\.tmp-\d+$/
export const isOwnFileName = (file: string): boolean => OWN_FILE.test(file)
