import { readFileSync } from 'node:fs'
import { chmod, readFile, rm, rmdir, writeFile } from 'node:fs/promises'
import { cidrSize, parseCidr } from '../lib/ipv4.js'
import { dhcpFiles } from '../model/layout.js'
import type { Network, NetworkFields } from '../model/types.js'
import { dhcpHostText } from '../plan/fields.js'
import { run } from './exec.js'
import { isOurProcess, readPidFile, waitForExit } from './process.js'
import { hostResolvers } from './resolvers.js'
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
export function dnsmasqConfig(
  lab: string,
  network: Network,
  files: ReturnType<typeof dhcpFiles>,
  upstreams: readonly string[],
): string {
  const cidr = parseCidr(network.cidr!)!
  const host = network.hostAddress!.split('/')[0]!
  // NAT networks reach the outside, so their DNS forwards what is not the lab's; other networks'
  // DNS answers the lab's names alone (`server=/#/`: every other name is unknown).
  const forward = network.nat && upstreams.length > 0
  const host6 = network.hostAddress6?.split('/')[0] ?? null
  const lines = [
    `# kvmctl: lab ${lab}, ${network.address}. Written by kvmctl; changes are overwritten.`,
    `# kvmctl-dns: ${network.nat ? 'lab names, forwards the rest' : 'lab names'}`,
    `interface=${network.bridge}`,
    'bind-interfaces',
    'except-interface=lo',
    `listen-address=${host}`,
    ...(host6 ? [`listen-address=${host6}`] : []),
    'no-resolv',
    'no-hosts',
    `domain=${network.domain}`,
    `local=/${network.domain}/`,
    ...(forward ? upstreams.map((server) => `server=${server}`) : ['server=/#/']),
    'dhcp-authoritative',
    `dhcp-range=${network.dhcpRange![0]},${network.dhcpRange![1]},${netmask(cidr.prefix)},1h`,
    // IPv6: router advertisements that send the guests to DHCPv6 for their address (managed, no
    // SLAAC), so that a reservation is the address a guest gets; a range for the others.
    ...(network.dhcp6Range
      ? ['enable-ra', `dhcp-range=${network.dhcp6Range[0]},${network.dhcp6Range[1]},64,1h`]
      : []),
    ...network.dhcpHosts.map((h) => `dhcp-host=${dhcpHostText(h).replace('=', ',')}`),
    // A VM with a fixed ip has its name in DNS from the start (dnsmasq names a reservation only
    // once it is leased, and a guest with a static address never asks for one).
    ...network.dhcpHosts.flatMap((h) =>
      h.ip && h.name
        ? [`host-record=${[h.name, `${h.name}.${network.domain}`, h.ip, h.ip6].filter(Boolean).join(',')}`]
        : [],
    ),
    network.nat ? `dhcp-option=option:router,${host}` : 'dhcp-option=option:router',
    `dhcp-option=option:dns-server,${host}`,
    // A network narrower than Ethernet's 1500 (one that spans hosts over VXLAN) says so to its guests.
    ...(network.mtu && network.mtu < 1500 ? [`dhcp-option=option:mtu,${network.mtu}`] : []),
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
  await writeFileAtomic(files.conf, dnsmasqConfig(lab, network, files, hostResolvers().servers))
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

/**
 * What the running dnsmasq serves, from the configuration it was started with: null when none
 * runs, else its host entries and what its DNS answers. Small local reads, done here.
 */
export function observeDhcp(
  labDir: string,
  network: string,
): { hosts: string[]; dns: NetworkFields['dns'] } | null {
  const files = dhcpFiles(labDir, network)
  const pid = readPidFile(files.pid)
  if (pid === null || !isOurProcess(pid, dhcpMarker(files.conf))) return null
  let conf = ''
  try {
    conf = readFileSync(files.conf, 'utf8')
  } catch {}
  const dns = /^# kvmctl-dns: (.+)$/m.exec(conf)?.[1]
  return {
    hosts: [...conf.matchAll(/^dhcp-host=([^,\n]+),([^\n]+)$/gm)].map((m) => `${m[1]}=${m[2]}`),
    dns: dns === 'lab names' || dns === 'lab names, forwards the rest' ? dns : null,
  }
}

export interface Lease {
  readonly mac: string
  readonly ip: string
  readonly hostname: string | null
  readonly expires: number
}

/**
 * dnsmasq's lease file: `expiry mac ip hostname client-id` per IPv4 lease; after a `duid` line of
 * the server's own, `expiry iaid ip6 hostname client-duid` per DHCPv6 lease, whose MAC is read
 * from the client's DUID when it holds one (DUID-LLT and DUID-LL on Ethernet, as Linux clients
 * make them).
 */
export async function readLeases(labDir: string, network: string): Promise<Lease[]> {
  const text = await readFile(dhcpFiles(labDir, network).leases, 'utf8').catch(() => '')
  return text
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields.length >= 4 && fields[0] !== 'duid')
    .flatMap(([expires, mac, ip, hostname, clientId]) => {
      const v6 = ip!.includes(':')
      const owner = v6 ? macOfDuid(clientId ?? '') : mac!
      return owner
        ? [
            {
              mac: owner,
              ip: ip!,
              hostname: hostname && hostname !== '*' ? hostname : null,
              expires: Number(expires),
            },
          ]
        : []
    })
}

/** The MAC in a DUID-LLT (00:01:00:01, a time, the MAC) or DUID-LL (00:03:00:01, the MAC). */
export function macOfDuid(duid: string): string | null {
  const bytes = duid.toLowerCase().split(':')
  if (bytes.length === 14 && bytes.slice(0, 4).join(':') === '00:01:00:01') return bytes.slice(8).join(':')
  if (bytes.length === 10 && bytes.slice(0, 4).join(':') === '00:03:00:01') return bytes.slice(4).join(':')
  return null
}
