import { readFileSync } from 'node:fs'
import { chmod, readFile, rm, rmdir, writeFile } from 'node:fs/promises'
import { cidrSize, parseCidr } from '../lib/ipv4.js'
import { dhcpFiles } from '../model/layout.js'
import type { Network } from '../model/types.js'
import { run } from './exec.js'
import { isOurProcess, readPidFile, waitForExit } from './process.js'
import { writeFileAtomic } from './state.js'

/** How a dnsmasq of ours shows in /proc/PID/cmdline. */
export const dhcpMarker = (conf: string) => `--conf-file=${conf}`

function netmask(prefix: number): string {
  const mask = 2 ** 32 - cidrSize({ network: 0, prefix })
  return [24, 16, 8, 0].map((shift) => Math.floor(mask / 2 ** shift) % 256).join('.')
}

/**
 * dnsmasq's configuration: DHCP on this bridge only, a reservation per NIC with an ip, the
 * dynamic range, and (for NAT networks) the host as router and DNS server.
 */
export function dnsmasqConfig(lab: string, network: Network, files: ReturnType<typeof dhcpFiles>): string {
  const cidr = parseCidr(network.cidr!)!
  const host = network.hostAddress!.split('/')[0]!
  const lines = [
    `# kvmctl: lab ${lab}, ${network.address}. Written by kvmctl; changes are overwritten.`,
    `interface=${network.bridge}`,
    'bind-interfaces',
    'except-interface=lo',
    // DNS only where the guests can use it: NAT networks, which reach the outside.
    network.nat ? `listen-address=${host}` : 'port=0',
    'no-resolv',
    'no-hosts',
    'dhcp-authoritative',
    `dhcp-range=${network.dhcpRange![0]},${network.dhcpRange![1]},${netmask(cidr.prefix)},1h`,
    ...network.dhcpHosts.map((h) => `dhcp-host=${h.mac},${h.ip}`),
    network.nat ? `dhcp-option=option:router,${host}` : 'dhcp-option=option:router',
    ...(network.nat ? [`dhcp-option=option:dns-server,${host}`, 'server=/#/'] : []),
    `dhcp-leasefile=${files.leases}`,
    `pid-file=${files.pid}`,
    `log-facility=${files.log}`,
    // The lab's directory is root's alone: dnsmasq keeps root to write its lease file there.
    'user=root',
  ]
  return `${lines.join('\n')}\n`
}

/** Writes the configuration and (re)starts the network's dnsmasq. */
export async function startDhcp(lab: string, labDir: string, network: Network): Promise<void> {
  const files = dhcpFiles(labDir, network.name)
  await stopDhcp(labDir, network.name)
  await writeFileAtomic(files.conf, dnsmasqConfig(lab, network, files))
  // dnsmasq makes its files readable by all: the lease file and the log, made here first, keep
  // the owner's mode; the pid file, which it writes anew, is made so once it runs.
  for (const file of [files.leases, files.log]) {
    await writeFile(file, '', { flag: 'a', mode: 0o600 })
    await chmod(file, 0o600)
  }
  // dnsmasq forks into the background once it listens; errors come on stderr with exit 1.
  await run('dnsmasq', [dhcpMarker(files.conf)])
  await chmod(files.pid, 0o600)
}

export async function stopDhcp(labDir: string, network: string): Promise<void> {
  const files = dhcpFiles(labDir, network)
  const pid = readPidFile(files.pid)
  if (pid !== null && isOurProcess(pid, dhcpMarker(files.conf))) {
    process.kill(pid, 'SIGTERM')
    if (!(await waitForExit(pid, dhcpMarker(files.conf), 3000))) process.kill(pid, 'SIGKILL')
  }
  await rm(files.pid, { force: true })
}

/** Stops dnsmasq and removes its files: the network is going away. */
export async function removeDhcp(labDir: string, network: string): Promise<void> {
  await stopDhcp(labDir, network)
  const files = dhcpFiles(labDir, network)
  await Promise.all([files.conf, files.leases, files.log].map((f) => rm(f, { force: true })))
  await rmdir(files.dir).catch(() => {})
}

/** What the running dnsmasq serves: null when none runs, else its reservations. Small local reads, done here. */
export function observeDhcp(labDir: string, network: string): string[] | null {
  const files = dhcpFiles(labDir, network)
  const pid = readPidFile(files.pid)
  if (pid === null || !isOurProcess(pid, dhcpMarker(files.conf))) return null
  let conf = ''
  try {
    conf = readFileSync(files.conf, 'utf8')
  } catch {}
  return [...conf.matchAll(/^dhcp-host=([^,\n]+),([^\n]+)$/gm)].map((m) => `${m[1]}=${m[2]}`)
}

export interface Lease {
  readonly mac: string
  readonly ip: string
  readonly hostname: string | null
  readonly expires: number
}

/** dnsmasq's lease file: `expiry mac ip hostname client-id` per line. */
export async function readLeases(labDir: string, network: string): Promise<Lease[]> {
  const text = await readFile(dhcpFiles(labDir, network).leases, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '))
    .map(([expires, mac, ip, hostname]) => ({
      mac: mac!,
      ip: ip!,
      hostname: hostname && hostname !== '*' ? hostname : null,
      expires: Number(expires),
    }))
}
