import assert from 'node:assert/strict'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { BIN } from '../helpers/cli.js'
import { TestCluster } from '../helpers/cluster.js'
import { editFile, GUEST, guestLine, waitFor } from '../helpers/host.js'

// One lab over three "hosts" (network namespaces with their own sshd and state directory),
// driven from a controller namespace over real OpenSSH: a network that spans them over VXLAN,
// DHCP and NAT on host a, and what happens when a host is lost, locked, emptied or dropped.
// b1 cannot hear the ACPI power button (acpi=off), so stopping it takes its shutdown_timeout:
// a step on b that is still running when b's port 22 is blocked and ssh's keepalives (15 s)
// give up.
const lab = (cluster: TestCluster) => `
name: span
${cluster.hostsYaml()}
defaults: { memory: 128M, shutdown_timeout: 2s }
images: { tiny: { kernel: ${cluster.dir}/boot/vmlinuz, initrd: ${cluster.dir}/boot/initrd.gz, cmdline: console=ttyS0 quiet } }
networks:
  lan: { cidr: 10.70.0.0/24, cidr6: 'fd00:70::/64', dhcp: true, nat: true }
vms:
  a1:
    host: a
    image: tiny
    cmdline: kv.name=a1 kv.dhcp=1 kv.ip6=fd00:70::11/64
    memory: 128M
    nics: [{ network: lan, ip: 10.70.0.11 }]
    ready: { serial: KVMCTL-GUEST ready }
  a2:
    host: a
    image: tiny
    cmdline: kv.name=a2 kv.dhcp=1 kv.echo=7
    nics: [{ network: lan, ip: 10.70.0.12 }]
    ready: { serial: KVMCTL-GUEST ready }
  b1:
    host: b
    image: tiny
    cmdline: kv.name=b1 kv.dhcp=1 kv.ping=10.70.0.1,10.70.0.11,10.70.0.31 kv.ip6=fd00:70::21/64 kv.ping6=fd00:70::1,fd00:70::11 acpi=off
    shutdown_timeout: 30s
    nics: [{ network: lan, ip: 10.70.0.21 }]
    ready: { serial: KVMCTL-GUEST ready }
  c1:
    host: c
    image: tiny
    cmdline: kv.name=c1 kv.dhcp=1 kv.ping=10.70.0.12,10.70.0.21 kv.ip6=fd00:70::31/64 kv.ping6=fd00:70::21
    nics: [{ network: lan, ip: 10.70.0.31 }]
    ready: { serial: KVMCTL-GUEST ready }
`

// A don't-fragment ICMP echo of SIZE payload bytes from this namespace: "reply", or why not.
const DF_PING = `
import socket, struct, sys
dst, size = sys.argv[1], int(sys.argv[2])
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b[: len(b) // 2 * 2])) + (b[-1] << 8 if len(b) % 2 else 0)
    s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER: IP_PMTUDISC_DO (DF, never fragment)
body = b'k' * size
packet = struct.pack('!BBHHH', 8, 0, csum(struct.pack('!BBHHH', 8, 0, 0, 7, 1) + body), 7, 1) + body
sock.settimeout(3)
for attempt in range(5):
    try:
        sock.sendto(packet, (dst, 0))
    except OSError as e:
        print('send failed:', e.strerror); sys.exit(0)
    try:
        while True:
            data, addr = sock.recvfrom(65535)
            if addr[0] == dst and data[20] == 0:
                print('reply', len(data)); sys.exit(0)
    except socket.timeout:
        pass
print('no reply')
`

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

describe('a lab across three hosts: OpenSSH for control, VXLAN for the network', () => {
  let cluster: TestCluster
  let file: string
  const log = (host: string, vm: string) =>
    readFileSync(`${cluster.hosts.find((h) => h.name === host)!.stateDir}/span/vm-${vm}/serial.log`, 'utf8')
  const stateDir = (host: string) => cluster.hosts.find((h) => h.name === host)!.stateDir
  const plan = async () => {
    const result = await cluster.kvmctl(['plan', '-f', file, '--json'])
    assert.equal(result.code, 0, result.stderr)
    return JSON.parse(result.stdout) as {
      format_version: number
      actions: { address: string; host: string; action: string }[]
      hosts: { name: string }[]
    }
  }
  const apply = async (...args: string[]) => {
    const result = await cluster.kvmctl(['apply', '-f', file, '--auto-approve', ...args])
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`)
    return result
  }
  /** The QEMUs of the lab on a host: processes whose command line names its state directory's lab. */
  const qemus = (host: string) =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${stateDir(host)}/span/vm-`)
        } catch {
          return false
        }
      })

  /** kvmctl on the controller in the background: its stderr so far, and its exit code. */
  const background = (...args: string[]) => {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        cluster.controller,
        BIN,
        ...args,
        '--ssh-config',
        cluster.sshConfig,
        '--state-dir',
        `${cluster.dir}/controller`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', CI: '1' } },
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
    return { stderr: () => stderr, exited }
  }

  /** Until a background apply has started b1's restart (30 s: the apply holds the locks meanwhile). */
  const restartOfB1 = (run: ReturnType<typeof background>) =>
    waitFor('the restart of b1 to start', () => run.stderr().includes('vm/b1@b: restarting...'), 60_000)
  /** kvmctl run on a host itself, in its namespace, with its state directory. */
  const onHost = (name: string, args: readonly string[]) => {
    const host = cluster.hosts.find((h) => h.name === name)!
    return spawnSync('ip', ['netns', 'exec', host.netns, BIN, ...args, '--state-dir', host.stateDir], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', CI: '1' },
    })
  }

  before(async () => {
    cluster = new TestCluster(['a', 'b', 'c'])
    file = `${cluster.dir}/span.yaml`
    // The boot files are this test's own copies, which it touches and removes.
    mkdirSync(`${cluster.dir}/boot`)
    for (const name of ['vmlinuz', 'initrd.gz'])
      copyFileSync(`${GUEST}/${name}`, `${cluster.dir}/boot/${name}`)
    writeFileSync(file, lab(cluster))
    await waitFor(
      'every sshd to answer',
      () => cluster.hosts.every((h) => cluster.ssh(h.name, ['true']).status === 0) || null,
      20_000,
    )
  })
  after(() => cluster.cleanup())

  it('plans by host (exit 2), applies, and the guests on b and c get their leases from a and reach each other, over IPv4 and IPv6', async () => {
    const planned = await cluster.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(planned.code, 2, planned.stderr)
    const out = planned.stdout
    for (const [name, underlay] of [
      ['a', '10.250.0.1'],
      ['b', '10.250.0.2'],
      ['c', '10.250.0.3'],
    ])
      assert.match(out, new RegExp(`Host ${name} \\(ssh ${name}, kvmctl \\S+, underlay ${underlay}\\):`))
    // Each host's part in its group: the network's home on a, its parts on b and c.
    const group = (name: string) => out.slice(out.indexOf(`Host ${name} `)).split(/\nHost /)[0]!
    assert.match(group('a'), /\+ create network\/lan\n/)
    assert.match(group('a'), /\+ create vm\/a1\n[\s\S]*\+ create vm\/a2\n/)
    assert.match(group('b'), /\+ create network\/lan@b\n[\s\S]*\+ create vm\/b1\n/)
    assert.match(group('c'), /\+ create network\/lan@c\n[\s\S]*\+ create vm\/c1\n/)
    assert.doesNotMatch(group('b'), /vm\/a1|vm\/c1/)

    // Every host here is another machine to the controller: it boots from copies of the
    // controller's files, in its image cache, named by their sha256.
    const kernel = `images/${sha256(`${cluster.dir}/boot/vmlinuz`)}`
    for (const name of ['a', 'b', 'c'])
      assert.ok(
        out.includes(
          `host ${name}: image/tiny kernel ${cluster.dir}/boot/vmlinuz (${(statSync(`${cluster.dir}/boot/vmlinuz`).size / 1024 ** 2).toFixed(1)} MiB) is copied first from this machine into the host's image cache, as ${stateDir(name)}/${kernel}.`,
        ),
        out,
      )

    const applied = await apply('--wait')
    assert.match(applied.stdout, /All VMs are ready\./)
    assert.match(
      applied.stderr,
      /host b: image\/tiny kernel, image\/tiny initrd copied \(\d+\.\d MiB in \d+\.\d s\)/,
    )
    for (const name of ['a', 'b', 'c']) {
      assert.equal(sha256(`${stateDir(name)}/${kernel}`), sha256(`${cluster.dir}/boot/vmlinuz`))
      assert.equal(statSync(`${stateDir(name)}/${kernel}`).mode & 0o777, 0o444)
    }
    const b1 = readFileSync(`/proc/${qemus('b')[0]}/cmdline`, 'utf8').split('\0')
    assert.equal(b1[b1.indexOf('-kernel') + 1], `${stateDir('b')}/${kernel}`)
    // b's image cache says who boots from the copies, so `image prune` keeps them.
    const listed = onHost('b', ['image', 'list', '--json'])
    assert.equal(listed.status, 0, listed.stderr)
    const images = (JSON.parse(listed.stdout) as { images: { path: string; usedBy: string[] }[] }).images
    assert.deepEqual(
      images.map((i) => i.usedBy),
      [['span/vm-b1'], ['span/vm-b1']],
    )
    assert.ok(images.some((i) => i.path === `${stateDir('b')}/${kernel}`))
    const pruned = onHost('b', ['image', 'prune', '--dry-run'])
    assert.equal(pruned.status, 0, pruned.stderr)
    assert.doesNotMatch(pruned.stdout, /images\//)
    // b1 and c1 have no address of their own: their DHCP answers came from a's dnsmasq over VXLAN.
    assert.match(guestLine(log('b', 'b1'), 'ready')!.nics!, /^eth0:10\.70\.0\.21:/)
    assert.match(guestLine(log('c', 'c1'), 'ready')!.nics!, /^eth0:10\.70\.0\.31:/)
    const pings = (host: string, vm: string) =>
      waitFor(`${vm}'s pings`, () => {
        const lines = log(host, vm)
          .split(/\r?\n/)
          .filter((l) => l.includes('KVMCTL-GUEST ping '))
        return lines.length >= (vm === 'b1' ? 3 : 2) ? lines.map((l) => l.slice(l.indexOf('peer='))) : null
      })
    assert.deepEqual(await pings('b', 'b1'), [
      'peer=10.70.0.1 ok',
      'peer=10.70.0.11 ok',
      'peer=10.70.0.31 ok',
    ])
    assert.deepEqual(await pings('c', 'c1'), ['peer=10.70.0.12 ok', 'peer=10.70.0.21 ok'])
    // IPv6 over the same wires: b1 reaches the gateway on a (the home's bridge, prefix::1) and a1;
    // c1 reaches b1.
    const pings6 = (host: string, vm: string, count: number) =>
      waitFor(`${vm}'s v6 pings`, () => {
        const lines = log(host, vm)
          .split(/\r?\n/)
          .filter((l) => l.includes('KVMCTL-GUEST ping6 '))
        return lines.length >= count ? lines.map((l) => l.slice(l.indexOf('peer='))) : null
      })
    assert.deepEqual(
      await pings6('b', 'b1', 2),
      ['peer=fd00:70::1 ok', 'peer=fd00:70::11 ok'],
      log('b', 'b1') + log('a', 'a1'),
    )
    assert.deepEqual(await pings6('c', 'c1', 1), ['peer=fd00:70::21 ok'])
  })

  it("shows each host's VXLAN device with the lab's VNI, port 4789, MTU 1450 and an entry per peer", () => {
    const underlays = { a: '10.250.0.1', b: '10.250.0.2', c: '10.250.0.3' } as const
    const vnis = new Set<number>()
    for (const name of ['a', 'b', 'c'] as const) {
      const links = JSON.parse(cluster.on(name, ['ip', '-d', '-j', 'link', 'show', 'type', 'vxlan'])) as {
        ifname: string
        mtu: number
        master: string
        ifalias: string
        linkinfo: { info_data: { id: number; port: number; local: string; learning: boolean } }
      }[]
      assert.equal(links.length, 1, `one VXLAN device on ${name}`)
      const [vx] = links
      vnis.add(vx!.linkinfo.info_data.id)
      assert.equal(vx!.linkinfo.info_data.port, 4789)
      assert.equal(vx!.linkinfo.info_data.local, underlays[name])
      assert.equal(vx!.linkinfo.info_data.learning, false)
      assert.equal(vx!.mtu, 1450)
      assert.match(vx!.ifalias, new RegExp(`^kvmctl:span:vxlan/lan${name === 'a' ? '' : `@${name}`}:`))
      const bridge = JSON.parse(cluster.on(name, ['ip', '-j', 'link', 'show', vx!.master]))[0]
      assert.equal(bridge.mtu, 1450)
      const fdb = JSON.parse(cluster.on(name, ['bridge', '-j', 'fdb', 'show', 'dev', vx!.ifname])) as {
        mac: string
        dst?: string
      }[]
      const flood = fdb.filter((e) => e.mac === '00:00:00:00:00:00').map((e) => e.dst)
      const peers: string[] = Object.entries(underlays)
        .filter(([n]) => n !== name)
        .map(([, a]) => a)
      assert.deepEqual(flood.sort(), peers)
      // A static entry for each NIC on another host, pointing at that host.
      const remote = fdb.filter((e) => e.mac !== '00:00:00:00:00:00' && e.dst)
      assert.equal(remote.length, { a: 2, b: 3, c: 3 }[name])
      assert.ok(remote.every((e) => peers.includes(e.dst!)))
    }
    assert.equal(vnis.size, 1, 'the same VNI on every host')
  })

  it('gives the guests the MTU budget: a DF ping of 1450 bytes crosses, one of 1451 does not', async () => {
    assert.equal(guestLine(log('c', 'c1'), 'ready')!.mtus, 'eth0:1450')
    assert.equal(guestLine(log('a', 'a1'), 'ready')!.mtus, 'eth0:1450')
    // From host a's side of the network (its bridge address) to the guest on c, through VXLAN.
    const ping = (size: number) =>
      cluster.on('a', ['python3', '-c', DF_PING, '10.70.0.31', String(size)]).trim()
    assert.equal(ping(1450 - 28), 'reply 1450')
    assert.match(ping(1450 - 28 + 1), /^send failed: Message too long/)
  })

  it('plans nothing more once applied', async () => {
    const again = await cluster.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(again.code, 0, again.stdout + again.stderr)
    assert.match(again.stdout, /No changes\. The hosts match lab "span"/)
  })

  it('hashes a boot file once and again only when it changed; a host keeps only what matches its sha256; one this machine cannot read fails the plan', async () => {
    const kernel = `${cluster.dir}/boot/vmlinuz`
    const cache = `${process.env.XDG_CACHE_HOME || `${process.env.HOME}/.cache`}/kvmctl/digests`
    const entry = `${cache}/${createHash('sha256').update(kernel).digest('hex')}.json`
    const first = JSON.parse(readFileSync(entry, 'utf8')) as { sha256: string; mtimeNs: string }
    assert.equal(first.sha256, sha256(kernel))
    const written = statSync(entry).mtimeMs
    const plan = async () => {
      const result = await cluster.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
      assert.equal(result.code, 0, result.stdout + result.stderr)
    }
    // Unchanged: its digest read from the cache, not hashed (the entry is not written again).
    await plan()
    assert.equal(statSync(entry).mtimeMs, written)
    // Touched, not changed: hashed again (its mtime moved), the same content, nothing to copy.
    const touched = new Date(Date.now() + 5000)
    utimesSync(kernel, touched, touched)
    await plan()
    const second = JSON.parse(readFileSync(entry, 'utf8')) as { sha256: string; mtimeNs: string }
    assert.notEqual(second.mtimeNs, first.mtimeNs)
    assert.equal(second.sha256, first.sha256)
    // What reaches a host under another sha256 than its own is not kept there.
    const wrong = '0'.repeat(64)
    const b = cluster.hosts.find((h) => h.name === 'b')!
    const refused = spawnSync(
      'ip',
      ['netns', 'exec', b.netns, BIN, 'agent', 'put', `${wrong}:5`, '--state-dir', b.stateDir],
      { input: 'hello', encoding: 'utf8' },
    )
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /^the file sent as 0{64} has sha256 [0-9a-f]{64}; it was deleted/)
    assert.deepEqual(
      readdirSync(`${b.stateDir}/images`).filter((f) => f.startsWith(wrong)),
      [],
    )
    // A boot file this machine cannot read stops the plan, for each host that needed it.
    renameSync(`${cluster.dir}/boot/initrd.gz`, `${cluster.dir}/boot/initrd.moved`)
    try {
      const missing = await cluster.kvmctl(['plan', '-f', file])
      assert.equal(missing.code, 1)
      for (const name of ['a', 'b', 'c'])
        assert.ok(
          missing.stderr.includes(
            `image/tiny on host ${name}: initrd ${cluster.dir}/boot/initrd.gz does not exist; check the path, which is relative to the topology file`,
          ),
          missing.stderr,
        )
    } finally {
      renameSync(`${cluster.dir}/boot/initrd.moved`, `${cluster.dir}/boot/initrd.gz`)
    }
  })

  it('copies this kvmctl to a host that has none with --copy-kvmctl, and checks it by its hash', async () => {
    const original = readFileSync(file, 'utf8')
    const c = cluster.hosts.find((h) => h.name === 'c')!
    writeFileSync(
      file,
      original.replace(
        `state_dir: ${c.stateDir}, kvmctl: ${BIN}`,
        `state_dir: ${c.stateDir}, kvmctl: /nonexistent/kvmctl`,
      ),
    )
    const copies = `${process.env.HOME ?? '/root'}/.cache/kvmctl/agents`
    const existed = existsSync(copies)
    const before = existed ? readdirSync(copies) : []
    try {
      const missing = await cluster.kvmctl(['plan', '-f', file])
      assert.equal(missing.code, 1)
      assert.match(missing.stderr, /host c: there is no \/nonexistent\/kvmctl to run \(ssh exited with 127/)
      assert.match(missing.stderr, /pass --copy-kvmctl/)
      const copied = await cluster.kvmctl(['plan', '-f', file, '--copy-kvmctl', '--detailed-exitcode'])
      assert.equal(copied.code, 0, copied.stdout + copied.stderr)
      // c's part observed by the copy, with c's state directory: nothing to change there.
      assert.match(copied.stdout, /No changes\. The hosts match lab "span"/)
      // Where it went: the remote user's home (here the same file system as this test's).
      const added = readdirSync(copies).filter((d) => !before.includes(d))
      assert.equal(added.length, 1)
      assert.ok(existsSync(`${copies}/${added[0]}/dist/bundle/agent.js`))
    } finally {
      writeFileSync(file, original)
      if (!existed) rmSync(copies, { recursive: true, force: true })
      else
        for (const dir of readdirSync(copies))
          if (!before.includes(dir)) rmSync(`${copies}/${dir}`, { recursive: true, force: true })
    }
  })

  it("shows one host's part with status --host, run on that host", () => {
    const status = onHost('b', ['status', '-f', file, '--host', 'b', '--json'])
    assert.equal(status.status, 0, status.stderr)
    const seen = JSON.parse(status.stdout) as { vms: { name: string; state: string }[]; drift: unknown[] }
    assert.deepEqual(
      seen.vms.map((vm) => [vm.name, vm.state]),
      [['b1', 'running']],
    )
    assert.deepEqual(seen.drift, [])
    // Without --host, on a machine that is none of the hosts (ssh: local): what to do instead.
    const refused = onHost('b', ['status', '-f', file])
    assert.equal(refused.status, 1)
    assert.match(
      refused.stderr,
      /lab "span" spans hosts \(a, b, c\): `kvmctl status` works on one host's part/,
    )
  })

  it('sees a forwarding entry and a VXLAN device removed by hand, and puts them back', async () => {
    const device = (host: string) =>
      (
        JSON.parse(cluster.on(host, ['ip', '-j', 'link', 'show', 'type', 'vxlan'])) as { ifname: string }[]
      )[0]!.ifname
    cluster.on('b', ['bridge', 'fdb', 'del', '00:00:00:00:00:00', 'dev', device('b'), 'dst', '10.250.0.3'])
    cluster.on('c', ['ip', 'link', 'del', device('c')])
    const drift = await cluster.kvmctl(['plan', '-f', file])
    assert.match(drift.stdout, /~ update in-place network\/lan@b\n\s+vxlan_fdb {2}\(in-place\)\n/)
    assert.match(
      drift.stdout,
      /~ update in-place network\/lan@c\n\s+vxlan {2}\(in-place\)\n\s+- \(none\)\n\s+\+ vni \d+ port 4789 local 10\.250\.0\.3 dev underlay0, from peers only\n/,
    )
    await apply()
    assert.equal((await plan()).actions.length, 0)
    assert.match(
      cluster.on('b', ['bridge', 'fdb', 'show', 'dev', device('b')]),
      /00:00:00:00:00:00 dst 10\.250\.0\.3/,
    )
  })

  it('runs ssh with StrictHostKeyChecking=yes only, and an unknown host key is an error naming the host', async () => {
    const bin = `${cluster.dir}/bin`
    mkdirSync(bin)
    writeFileSync(`${bin}/ssh`, `#!/bin/sh\necho "$*" >> ${cluster.dir}/ssh.log\nexec /usr/bin/ssh "$@"\n`)
    chmodSync(`${bin}/ssh`, 0o755)
    const path = `${bin}:${process.env.PATH}`
    assert.equal((await cluster.kvmctl(['plan', '-f', file], { env: { PATH: path } })).code, 0)
    const lines = readFileSync(`${cluster.dir}/ssh.log`, 'utf8').trim().split('\n')
    for (const line of lines) assert.doesNotMatch(line, /StrictHostKeyChecking=no/i)
    // The cluster's ssh_config sets a ControlPath: `ssh -G`, which connects nowhere, says for
    // each host whether it applies there (it does: kvmctl adds none of its own).
    const asked = lines.filter((l) => / -G -- /.test(` ${l}`))
    assert.deepEqual(asked.map((l) => l.split(' ').at(-1)).sort(), ['a', 'b', 'c'])
    const connecting = lines.filter((l) => !asked.includes(l))
    assert.equal(connecting.length, 3, 'one ssh per host')
    for (const line of connecting) {
      assert.match(
        line,
        /-o StrictHostKeyChecking=yes .*-o BatchMode=yes|-o BatchMode=yes .*-o StrictHostKeyChecking=yes/,
      )
      assert.doesNotMatch(line, /ControlPath=/)
    }
    // b's key missing from known_hosts (and no open connection to reuse): b is refused.
    const known = readFileSync(cluster.knownHosts, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('10.250.0.2 '))
    writeFileSync(`${cluster.dir}/known_hosts_without_b`, known.join('\n'))
    const config = readFileSync(cluster.sshConfig, 'utf8')
      .replaceAll(cluster.knownHosts, `${cluster.dir}/known_hosts_without_b`)
      .replaceAll('cm-%C', 'unknown-%C')
    writeFileSync(`${cluster.dir}/ssh_config_without_b`, config)
    const refused = await cluster.kvmctl(['plan', '-f', file], {
      sshConfig: `${cluster.dir}/ssh_config_without_b`,
    })
    assert.equal(refused.code, 1)
    assert.match(
      refused.stderr,
      /host b: unreachable \(b\): ssh exited with 255: .*Host key verification failed/,
    )
  })

  it('plans the reachable hosts under --target when one is down, saying what was not observed', async () => {
    // c's sshd as if it were down: its port refuses connections.
    const config = readFileSync(cluster.sshConfig, 'utf8')
      .replace(/(Host c\n {2}HostName 10\.250\.0\.3)/, '$1\n  Port 1')
      .replaceAll('cm-%C', 'down-%C')
    writeFileSync(`${cluster.dir}/ssh_config_c_down`, config)
    const down = { sshConfig: `${cluster.dir}/ssh_config_c_down` }
    const whole = await cluster.kvmctl(['plan', '-f', file], down)
    assert.equal(whole.code, 1)
    assert.match(whole.stderr, /host c: unreachable \(c\): ssh exited with 255: .*Connection refused/)
    const partial = await cluster.kvmctl(['plan', '-f', file, '--target', '@a', '--target', '@b'], down)
    assert.equal(partial.code, 0, partial.stderr)
    assert.match(
      partial.stdout,
      /No changes\. The hosts match lab "span"\.\nNote: host c \(c\) was not observed: ssh exited with 255: .*Connection refused/,
    )
  })

  it('kills every QEMU on c: the next plan starts exactly c1 on c, and a plan saved before is refused', async () => {
    const saved = `${cluster.dir}/before.plan`
    assert.equal((await cluster.kvmctl(['plan', '-f', file, '--out', saved])).code, 0)
    for (const pid of qemus('c')) process.kill(Number(pid), 'SIGKILL')
    await waitFor('c1 to end', () => qemus('c').length === 0)
    const after = await plan()
    assert.equal(after.format_version, 2)
    assert.deepEqual(
      after.actions.map((a) => [a.host, a.address]),
      [['c', 'vm/c1']],
    )
    const stale = await cluster.kvmctl(['apply', '-f', file, saved, '--auto-approve'])
    assert.equal(stale.code, 1)
    assert.match(stale.stderr, /host c changed since .*before\.plan was made/)
    await apply('--wait')
  })

  it('refuses a second apply while one runs, naming the host and the pid', async () => {
    // b1's restart takes its 30 s shutdown_timeout: the first apply holds the lab's locks meanwhile.
    editFile(file, 'kv.name=b1 kv.dhcp=1', 'kv.name=b1 kv.dhcp=1 kv.run=2')
    const first = background('apply', '-f', file, '--auto-approve')
    await restartOfB1(first)
    const second = await cluster.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(second.code, 1)
    assert.match(second.stderr, /host a: lab "span" is locked by another kvmctl \(pid \d+\)/)
    assert.equal(await first.exited, 0, first.stderr())
    assert.equal((await plan()).actions.length, 0)
  })

  it("blocks b's ssh in the middle of an apply: a and c finish, b's step is unknown, and the next apply converges", async () => {
    editFile(file, 'defaults: { memory: 128M,', 'defaults: { memory: 160M,')
    const running = background('apply', '-f', file, '--auto-approve')
    // b1 takes its 30 s shutdown_timeout to stop: its step is in flight when b's port 22 closes.
    await restartOfB1(running)
    const block = ['nft', '-f', '-']
    execFileSync('ip', ['netns', 'exec', cluster.hosts[1]!.netns, ...block], {
      input:
        'table inet blk {\n  chain in {\n    type filter hook input priority -300;\n    tcp dport 22 drop\n  }\n}\n',
    })
    const code = await running.exited
    execFileSync('ip', ['netns', 'exec', cluster.hosts[1]!.netns, 'nft', 'delete', 'table', 'inet', 'blk'])
    const stderr = running.stderr()
    assert.equal(code, 1, stderr)
    assert.match(stderr, /vm\/a2@a: restarted/)
    assert.match(stderr, /vm\/c1@c: restarted/)
    assert.match(stderr, /vm\/b1@b: outcome unknown: the connection to host b was lost/)
    // b's agent may still hold the lab's lock there until its connection is torn down.
    await apply('--lock-timeout', '120')
    assert.equal((await plan()).actions.length, 0)
    assert.equal(qemus('b').length, 1, 'one QEMU for b1, not two')
  })

  it('drops c from hosts (c1 moves to b): the plan shows the move, and nothing of the lab stays on c', async () => {
    const text = readFileSync(file, 'utf8')
    writeFileSync(
      file,
      text.replace(/\n {2}c: \{ ssh: c,[^\n]*/, '').replace('    host: c\n', '    host: b\n'),
    )
    const planned = await cluster.kvmctl(['plan', '-f', file])
    assert.equal(planned.code, 0, planned.stderr)
    assert.match(planned.stdout, /Host c \(ssh c, kvmctl \S+, underlay 10\.250\.0\.3\), leaving the lab:/)
    assert.match(planned.stdout, /vm\/c1 moves from host c to host b/)
    await apply('--wait')
    for (const name of ['a', 'b']) {
      const fdb = cluster.on(name, ['bridge', '-j', 'fdb', 'show'])
      assert.doesNotMatch(fdb, /10\.250\.0\.3/, `${name}'s forwarding entries still name c`)
    }
    assert.doesNotMatch(cluster.on('c', ['ip', '-d', 'link']), /kvmctl:span:/)
    assert.equal(qemus('c').length, 0)
    assert.equal(existsSync(`${stateDir('c')}/span`), false)
    const after = await plan()
    assert.deepEqual(
      after.hosts.map((h) => h.name),
      ['a', 'b'],
    )
    assert.equal(after.actions.length, 0)
  })

  it("cleans one host's part with destroy --lab run there alone, without the topology", async () => {
    const destroyed = onHost('b', ['destroy', '--lab', 'span', '--auto-approve'])
    assert.equal(destroyed.status, 0, destroyed.stderr)
    assert.match(destroyed.stdout, /- delete network\/lan@b/)
    assert.doesNotMatch(cluster.on('b', ['ip', '-d', 'link']), /kvmctl:span:/)
    assert.equal(qemus('b').length, 0)
    assert.equal(existsSync(`${stateDir('b')}/span`), false)
  })

  it('destroys the lab on every host', async () => {
    const destroyed = await cluster.kvmctl(['destroy', '-f', file, '--auto-approve'])
    assert.equal(destroyed.code, 0, destroyed.stderr)
    for (const name of ['a', 'b']) {
      assert.doesNotMatch(cluster.on(name, ['ip', '-d', 'link']), /kvmctl:span:/)
      assert.equal(existsSync(`${stateDir(name)}/span`), false)
    }
  })
})
