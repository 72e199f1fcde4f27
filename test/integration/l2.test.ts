import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { DEBIAN_GUEST, DEBIAN_IMAGE, editFile, TestHost } from '../helpers/host.js'

// Two Debian guests joined twice: by a p2p wire (tc mirred between their taps, mtu 9000) and by
// a bridge with l2_protocols: pass. Raw frames sent with an AF_PACKET socket from one arrive, or
// do not, at the other: what a network engineer's lab needs from its links.
const GUEST = DEBIAN_GUEST

// `l2 send IFACE DST/ETHERTYPE/VLAN/TAG...` prints the frames it sent, in hexadecimal;
// `l2 recv IFACE SECONDS` prints every frame that carries a tag, with its VLAN tag put back
// (the kernel hands a tag to packet sockets beside the frame), promiscuous since QEMU's
// virtio-net drops multicast frames its guest did not join.
const L2_TOOL = `#!/usr/bin/env python3
import socket, struct, sys, time
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_AUXDATA, PACKET_MR_PROMISC = 263, 1, 8, 1
if sys.argv[1] == 'send':
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((sys.argv[2], 0))
    source = s.getsockname()[4]
    for spec in sys.argv[3:]:
        dst, ethertype, vlan, tag = spec.split('/')
        frame = bytes.fromhex(dst.replace(':', '')) + source
        if vlan:
            frame += struct.pack('!HH', 0x8100, int(vlan))
        frame += bytes.fromhex(ethertype) + b'KVMCTL-' + tag.encode()
        frame = frame.ljust(60, b'\\0')
        s.send(frame)
        print(tag, frame.hex(), flush=True)
else:
    iface, seconds = sys.argv[2], float(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack('iHH8s', socket.if_nametoindex(iface), PACKET_MR_PROMISC, 0, b''))
    s.settimeout(0.2)
    end = time.time() + seconds
    while time.time() < end:
        try:
            data, ancillary, _, address = s.recvmsg(65535, socket.CMSG_SPACE(20))
        except socket.timeout:
            continue
        if address[2] == socket.PACKET_OUTGOING:
            continue
        for level, kind, value in ancillary:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, _, _, _, _, tci, tpid = struct.unpack('IIIHHHH', value[:20])
                if status & (1 << 4):
                    data = data[:12] + struct.pack('!HH', tpid or 0x8100, tci) + data[12:]
        if b'KVMCTL-' in data:
            tag = data.split(b'KVMCTL-')[1].rstrip(b'\\0').decode()
            print(tag, data.hex(), flush=True)
`

const indent = (text: string, spaces: number) =>
  text
    .split('\n')
    .map((line) => (line ? ' '.repeat(spaces) + line : line))
    .join('\n')

const vm = (ip: string) => `
    image: debian12
    cpus: 1
    memory: 768M
    nics: [{ network: lan, ip: ${ip} }, { network: wire }]
    cloud_init:
      user_data:
        write_files:
          - path: /usr/local/bin/l2
            permissions: '0755'
            content: |
${indent(L2_TOOL, 14)}
    ready: { ssh: true, timeout: 600s }`

const TOPOLOGY = `
name: l2
${DEBIAN_IMAGE}
networks:
  lan: { cidr: 10.75.0.0/24, l2_protocols: pass }
  wire: { type: p2p, mtu: 9000 }
vms:
  a:${vm('10.75.0.10')}
  b:${vm('10.75.0.11')}
`

/** STP, LACP and LLDP to their link-local groups, and a VLAN-100 tagged broadcast. */
const FRAMES = [
  '01:80:c2:00:00:00/0026//stp',
  '01:80:c2:00:00:02/8809//lacp',
  '01:80:c2:00:00:0e/88cc//lldp',
  'ff:ff:ff:ff:ff:ff/88b5/100/vlan',
]

describe('examples/network-lab.yaml: two routers joined by a p2p wire', () => {
  let host: TestHost
  before(() => {
    host = new TestHost()
  })
  after(() => host.cleanup())

  it('routes the clients to each other across the wire, IPv4 and IPv6, jumbo-sized; the wire is the taps alone', async () => {
    const file = host.example('network-lab.yaml')
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const log = (vm: string) => readFileSync(`${host.stateDir}/netlab/vm-${vm}/serial.log`, 'utf8')
    assert.match(log('c1'), /KVMCTL-GUEST ping peer=10\.82\.0\.10 ok/)
    assert.match(log('c2'), /KVMCTL-GUEST ping peer=10\.81\.0\.10 ok/)
    assert.match(log('c1'), /KVMCTL-GUEST ping6 peer=fd00:82::10 ok/, 'IPv6 routed across the wire too')
    assert.match(log('c2'), /KVMCTL-GUEST ping6 peer=fd00:81::10 ok/)
    const r1 = host.link('netlab', 'tap/r1.1')!
    const r2 = host.link('netlab', 'tap/r2.1')!
    assert.deepEqual(
      [r1.master, r2.master, r1.mtu, r2.mtu],
      [undefined, undefined, 9000, 9000],
      'on no bridge',
    )
    const redirect = (from: string, to: string) =>
      host.tc('filter', 'show', 'dev', from, 'ingress').includes(`Egress Redirect to device ${to})`)
    assert.ok(
      redirect(r1.ifname, r2.ifname) && redirect(r2.ifname, r1.ifname),
      'each end redirects to the other',
    )
    const left = host.link('netlab', 'network/left')!
    assert.match(host.ip('-d', 'link', 'show', left.ifname), /group_fwd_mask 0xfff8/)
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0, 'no drift')
  })

  it('captures the wire into a pcap file while c1 pings c2 across it', async () => {
    const file = `${host.dir}/network-lab.yaml`
    // The tiny guest's console is a shell: c1 pings c2 in the background, through r1, the wire, r2.
    const console = await host.kvmctl(['console', 'c1', '-f', file, '--timeout', '1'], {
      input: 'ping -c 30 10.82.0.10 >/dev/null &\n',
    })
    assert.equal(console.code, 0, console.stderr)
    const pcap = `${host.dir}/wire.pcap`
    const capture = await host.kvmctl(['capture', 'r1:eth1', '-c', '5', '-w', pcap, '-f', file, 'icmp'])
    assert.equal(capture.code, 0, capture.stderr)
    const frames = pcapFrames(readFileSync(pcap))
    assert.equal(frames.length, 5)
    for (const frame of frames) assert.equal(frame.readUInt16BE(12), 0x0800, 'IPv4, as the filter asked')
    const wrong = await host.kvmctl(['capture', 'r1:eth7', '-w', '/dev/null', '-f', file])
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /vm\/r1 has no NIC "eth7".*\n.*its NICs: r1:eth0, r1:eth1/)
  })

  it("link: down cuts c1's carrier in place, same QEMU; link: up restores it; no drift after each", async () => {
    const file = `${host.dir}/network-lab.yaml`
    const pid = () => readFileSync(`${host.stateDir}/netlab/vm-c1/qemu.pid`, 'utf8')
    const before = pid()
    /** What c1 says through its console: its carrier, and whether its router answers a ping. */
    const probe = async () => {
      const result = await host.kvmctl(['console', 'c1', '-f', file, '--timeout', '4'], {
        input:
          'echo CARRIER=$(cat /sys/class/net/eth0/carrier); echo PING=$(ping -c 1 -W 2 10.81.0.254 >/dev/null && echo ok || echo no)\n',
      })
      return `${/CARRIER=(\d)/.exec(result.stdout)?.[1]} ${/PING=(ok|no)/.exec(result.stdout)?.[1]}`
    }
    const up = '        ip: 10.81.0.10\n'
    const down = '        ip: 10.81.0.10\n        link: down\n'
    for (const [from, to, expected] of [
      [up, down, '0 no'],
      [down, up, '1 ok'],
    ] as const) {
      editFile(file, from, to)
      const plan = await host.kvmctl(['plan', '-f', file])
      assert.match(
        plan.stdout,
        to === down
          ? /~ update in-place vm\/c1\n {6}links +\[\] → \[eth0 down\] +\(in-place\)/
          : /~ update in-place vm\/c1\n {6}links +\[eth0 down\] → \[\] +\(in-place\)/,
      )
      const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
      assert.equal(apply.code, 0, apply.stderr)
      assert.equal(await probe(), expected, 'carrier and ping')
      assert.equal(pid(), before, 'the same QEMU')
      assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0, 'no drift')
    }
    const status = JSON.parse((await host.kvmctl(['status', '-f', file, '--json'])).stdout)
    assert.deepEqual(status.vms.find((v: { name: string }) => v.name === 'c1').links, [
      { nic: 'c1:eth0', link: 'up' },
    ])
  })

  it('destroy leaves nothing', async () => {
    assert.equal(
      (await host.kvmctl(['destroy', '-f', `${host.dir}/network-lab.yaml`, '--auto-approve'])).code,
      0,
    )
    assert.deepEqual(
      host.links().map((l) => l.ifname),
      ['lo'],
    )
  })
})

/** The frames of a pcap file (classic format, microsecond or nanosecond, either byte order). */
function pcapFrames(data: Buffer): Buffer[] {
  const magic = data.readUInt32LE(0)
  assert.ok([0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1].includes(magic), 'a pcap file')
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  const u32 = (offset: number) => (little ? data.readUInt32LE(offset) : data.readUInt32BE(offset))
  assert.equal(u32(20), 1, 'Ethernet frames')
  const frames: Buffer[] = []
  for (let offset = 24; offset + 16 <= data.length; ) {
    const length = u32(offset + 8)
    frames.push(data.subarray(offset + 16, offset + 16 + length))
    offset += 16 + length
  }
  return frames
}

describe('network labs: a p2p wire passes every frame, a bridge with l2_protocols: pass what it can', () => {
  let host: TestHost
  let file: string
  before(() => {
    assert.ok(existsSync(`${GUEST}/rootfs.qcow2`), 'run test/fixtures/build-debian-guest.sh first')
    host = new TestHost()
    file = host.topology('l2.yaml', TOPOLOGY)
  })
  after(() => host.cleanup())

  const out = (name: string, command: string) => host.sshOk(file, name, command)
  /** tag → frame in hexadecimal, from the tool's output. */
  const frames = (text: string) =>
    new Map(
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    )

  it('plans the wire and the bridge as it will make them', async () => {
    const plan = await host.kvmctl(['plan', '-f', file])
    assert.equal(plan.code, 0, plan.stderr)
    assert.match(plan.stdout, /l2_protocols +pass/)
    assert.match(plan.stdout, /Note: network\/wire: a p2p wire between tap\/a\.1 and tap\/b\.1/)
    assert.match(plan.stdout, /LACP and PAUSE \(:02, :01\) cannot pass a Linux bridge: use type: p2p/)
    assert.doesNotMatch(plan.stdout, /create network\/wire/, 'a wire is no host object of its own')
  })

  it('the wire passes STP, LACP, LLDP and tagged frames unchanged; the bridge all but LACP, as the plan said', async () => {
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    await out('a', 'sudo ip link set eth1 up')
    await out(
      'b',
      'sudo ip link set eth1 up; for i in eth0 eth1; do nohup sudo l2 recv $i 8 > /tmp/$i.txt 2>&1 < /dev/null & done; sleep 1',
    )
    const sentOnWire = frames(await out('a', `sudo l2 send eth1 ${FRAMES.join(' ')}`))
    const sentOnLan = frames(await out('a', `sudo l2 send eth0 ${FRAMES.join(' ')}`))
    await new Promise((resolve) => setTimeout(resolve, 8000))
    const wire = frames(await out('b', 'cat /tmp/eth1.txt'))
    const lan = frames(await out('b', 'cat /tmp/eth0.txt'))
    for (const tag of ['stp', 'lacp', 'lldp', 'vlan'])
      assert.equal(wire.get(tag), sentOnWire.get(tag), `${tag} over the wire, byte for byte`)
    for (const tag of ['stp', 'lldp', 'vlan'])
      assert.equal(lan.get(tag), sentOnLan.get(tag), `${tag} over the bridge, byte for byte`)
    assert.equal(lan.has('lacp'), false, 'LACP does not pass a Linux bridge')
  })

  it('the wire carries 9000-byte frames: the guests took its mtu', async () => {
    assert.equal(await out('a', 'cat /sys/class/net/eth1/mtu'), '9000')
    await out('a', 'sudo ip addr add 192.168.99.1/30 dev eth1')
    await out('b', 'sudo ip addr add 192.168.99.2/30 dev eth1')
    assert.match(await out('a', 'ping -c 2 -W 5 -M do -s 8972 192.168.99.2'), /2 received/)
  })

  it('sees a wire or a mask undone by hand, and repairs both in place', async () => {
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0, 'no drift')
    const tapA = host.link('l2', 'tap/a.1')!.ifname
    const bridge = host.link('l2', 'network/lan')!.ifname
    host.tc('qdisc', 'del', 'dev', tapA, 'ingress')
    host.ip('link', 'set', 'dev', bridge, 'type', 'bridge', 'group_fwd_mask', '0')
    const plan = await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])
    assert.equal(plan.code, 2, plan.stderr)
    assert.match(plan.stdout, /~ update in-place tap\/a\.1\n {6}peer +\(none\) → \S+ +\(in-place\)/)
    assert.match(
      plan.stdout,
      /~ update in-place network\/lan\n {6}l2_protocols +\(none\) → pass +\(in-place\)/,
    )
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve'])
    assert.equal(apply.code, 0, apply.stderr)
    assert.equal((await host.kvmctl(['plan', '-f', file, '--detailed-exitcode'])).code, 0)
    assert.match(await out('a', 'ping -c 2 -W 5 192.168.99.2'), /2 received/, 'the wire carries again')
  })

  it('destroy leaves nothing', async () => {
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
    assert.deepEqual(
      host.links().map((l) => l.ifname),
      ['lo'],
    )
    assert.deepEqual(host.pids(), [])
  })
})
