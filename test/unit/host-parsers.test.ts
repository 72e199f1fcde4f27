import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { after, describe, it } from 'node:test'
import { topologyFromText } from '../../src/config/index.js'
import { sumsEntry } from '../../src/host/checksums.js'
import { macOfDuid } from '../../src/host/dhcp-ops.js'
import { forwardsInComments, renderTable } from '../../src/host/firewall-ops.js'
import { labNameTakenBy, linkConflicts, ownedLinks, parseLinks } from '../../src/host/links.js'
import { parseProcNet } from '../../src/host/port-ops.js'
import { processState } from '../../src/host/process.js'
import { readDiskFile } from '../../src/host/qcow2.js'
import { chooseAccel, qemuArgv } from '../../src/host/qemu-argv.js'
import { desiredFields } from '../../src/plan/fields.js'
import { ROOT } from '../helpers/cli.js'

const recorded = (name: string) => `${ROOT}test/fixtures/recorded/${name}`

describe('ip -j -d addr show', () => {
  const links = parseLinks(JSON.parse(readFileSync(recorded('ip-addr-show.json'), 'utf8')))

  it('reads names, kinds, aliases, masters, mtus and addresses', () => {
    const bridge = links.find((l) => l.name === 'kbrec-lan')!
    assert.deepEqual(
      { kind: bridge.kind, alias: bridge.alias, mtu: bridge.mtu, up: bridge.up, addresses: bridge.addresses },
      {
        kind: 'bridge',
        alias: 'kvmctl:demo:network/lan:/var/lib/kvmctl',
        mtu: 1400,
        up: true,
        addresses: ['10.10.0.1/24'],
      },
    )
    const tap = links.find((l) => l.name === 'ktrec-web.0')!
    assert.deepEqual({ kind: tap.kind, master: tap.master }, { kind: 'tun', master: 'kbrec-lan' })
  })

  it("finds only this lab's links, and names the holders of names it wants", () => {
    const demo = { lab: 'demo', stateDir: '/var/lib/kvmctl' }
    assert.deepEqual([...ownedLinks(links, demo).keys()].sort(), ['network/lan', 'tap/web.0'])
    const conflicts = linkConflicts(links, demo, [
      { address: 'network/lan', hostName: 'kbrec-lan', kind: 'bridge' },
      { address: 'network/a', hostName: 'kbother', kind: 'bridge' },
      { address: 'network/b', hostName: 'br-hand', kind: 'bridge' },
      { address: 'network/c', hostName: 'kbfree', kind: 'bridge' },
    ])
    assert.deepEqual(conflicts, [
      {
        address: 'network/a',
        hostName: 'kbother',
        kind: 'bridge',
        owner: 'lab "other" (network/lan) of state directory /var/lib/kvmctl',
      },
      { address: 'network/b', hostName: 'br-hand', kind: 'bridge', owner: null },
    ])
  })

  it('sees a lab of the same name that another state directory keeps: not ours, and the name is taken', () => {
    assert.equal(ownedLinks(links, { lab: 'demo', stateDir: '/srv/other' }).size, 1)
    assert.deepEqual(labNameTakenBy(links, { lab: 'demo', stateDir: '/var/lib/kvmctl' }), {
      stateDir: '/srv/other',
      links: ['kbtwin-wan'],
    })
    assert.equal(labNameTakenBy(links, { lab: 'other', stateDir: '/var/lib/kvmctl' }), null)
  })
})

describe('qcow2 header', () => {
  it('reads the format, virtual size and backing file of a real overlay', async () => {
    const info = readDiskFile(recorded('overlay-2G.qcow2.head'))
    assert.equal(info.format, 'qcow2')
    assert.equal(info.virtualBytes, 2 * 1024 ** 3)
    assert.equal(info.backingFile, '/images/base.qcow2')
  })
  it('takes any other file for raw, sized by its length', async () => {
    const info = readDiskFile(recorded('ip-addr-show.json'))
    assert.equal(info.format, 'raw')
    assert.ok(info.virtualBytes > 1000)
  })
})

describe('/proc/PID/stat', () => {
  it('finds the state after a command name with spaces and parentheses', () => {
    assert.equal(processState('1234 (qemu (x) y) Z 1 1234 1234 0 -1'), 'Z')
    assert.equal(processState('99 (qemu-system-x86) S 1 99'), 'S')
  })
})

describe('QEMU command line', () => {
  const topology = topologyFromText(
    '/labs/demo/kvmctl.yaml',
    `
name: demo
images: { tiny: { kernel: ./vmlinuz, initrd: ./initrd.gz, cmdline: console=ttyS0 } }
networks: { lan: {} }
disks: { data: { size: 1G } }
vms:
  web:
    image: tiny
    cpus: 2
    memory: 512M
    cmdline: kv.name=web
    nics: [{ network: lan, mac: 52:54:00:12:34:56 }]
    disks: [data]
`,
    '/var/lib/kvmctl',
  )
  const vm = topology.vms[0]!
  const drives = [
    { path: '/var/lib/kvmctl/demo/disks/web.boot.qcow2', format: 'qcow2' as const, node: 'disk0' },
    { path: '/srv/odd,name.qcow2', format: 'qcow2' as const, node: 'disk1' },
  ]

  it('is exactly this (golden)', () => {
    const argv = qemuArgv('demo', vm, drives, { kvm: false, accelOverride: null })
    const expected = readFileSync(recorded('qemu-argv-web.txt'), 'utf8').trimEnd().split('\n')
    assert.deepEqual(argv, expected)
  })

  it('uses KVM where it works, and KVMCTL_ACCEL only for accel: auto', () => {
    assert.equal(chooseAccel({ accel: 'auto' }, { kvm: true, accelOverride: null }), 'kvm')
    assert.equal(chooseAccel({ accel: 'auto' }, { kvm: false, accelOverride: null }), 'tcg')
    assert.equal(chooseAccel({ accel: 'auto' }, { kvm: true, accelOverride: 'tcg' }), 'tcg')
    assert.equal(chooseAccel({ accel: 'kvm' }, { kvm: false, accelOverride: 'tcg' }), 'kvm')
    const argv = qemuArgv('demo', vm, drives, { kvm: true, accelOverride: null })
    assert.deepEqual(argv.slice(argv.indexOf('-accel'), argv.indexOf('-accel') + 4), [
      '-accel',
      'kvm',
      '-cpu',
      'host',
    ])
  })
})

describe('QEMU command line of a Secure Boot VM with a TPM', () => {
  const topology = topologyFromText(
    '/labs/demo/kvmctl.yaml',
    `
name: demo
images: { cloud: { path: ./disk.qcow2, secure_boot: true } }
vms: { win: { image: cloud, tpm: true } }
`,
    '/var/lib/kvmctl',
  )
  const vm = topology.vms[0]!
  const argv = qemuArgv('demo', vm, [], { kvm: false, accelOverride: null })
  const after = (option: string) => argv.filter((_, i) => argv[i - 1] === option)

  it("secure_boot implies uefi and q35, and boots OVMF's Secure Boot build with SMM on", () => {
    assert.equal(vm.firmware, 'uefi')
    assert.deepEqual(after('-machine'), ['q35,smm=on'])
    assert.deepEqual(after('-drive'), [
      'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
      'if=pflash,format=raw,unit=1,file=/var/lib/kvmctl/demo/vm-win/OVMF_VARS.ms.fd',
    ])
    assert.ok(after('-global').includes('driver=cfi.pflash01,property=secure,value=on'))
  })

  it("connects the TPM to the VM's own swtpm socket", () => {
    assert.deepEqual(
      after('-chardev').at(-1),
      'socket,id=tpm0-chardev,path=/var/lib/kvmctl/demo/vm-win/swtpm.sock',
    )
    assert.deepEqual(after('-tpmdev'), ['emulator,id=tpm0,chardev=tpm0-chardev'])
    assert.deepEqual(after('-device'), ['tpm-tis,tpmdev=tpm0'])
  })
})

describe('DHCPv6 leases', () => {
  it("finds a client's MAC in its DUID, as Linux clients make them (LLT, LL), and no MAC in the others", () => {
    assert.equal(macOfDuid('00:01:00:01:2e:3f:4a:5b:52:54:00:12:34:56'), '52:54:00:12:34:56')
    assert.equal(macOfDuid('00:03:00:01:52:54:00:12:34:56'), '52:54:00:12:34:56')
    assert.equal(macOfDuid('00:04:8f:2c:1d:0e:5b:6a:7c:8d:9e:0f:a1:b2:c3:d4:e5:f6'), null, 'DUID-UUID')
    assert.equal(macOfDuid('*'), null)
  })
})

describe('SUMS files', () => {
  it('finds the entry for a file name, as sha256sum and sha512sum write it (text or binary mode)', () => {
    const text = `${'a'.repeat(64)}  debian-12-genericcloud-amd64.qcow2\n${'B'.repeat(128)} *debian-12-nocloud-amd64.raw\n`
    assert.equal(sumsEntry(text, 'debian-12-genericcloud-amd64.qcow2'), 'a'.repeat(64))
    assert.equal(sumsEntry(text, 'debian-12-nocloud-amd64.raw'), 'b'.repeat(128))
    assert.equal(sumsEntry(text, 'debian-12-genericcloud-amd64.qcow'), null)
  })
})

describe('/proc/net listening sockets', () => {
  it('reads TCP listeners (state 0A) and bound UDP sockets (07), IPv4 little-endian, any address as null', () => {
    const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0A00000A:D431 0A000001:0016 01 00000000:00000000 00:00000000 00000000     0        0 3 1`
    assert.deepEqual(parseProcNet(tcp, 'tcp'), [
      { protocol: 'tcp', address: '127.0.0.1', port: 8080 },
      { protocol: 'tcp', address: null, port: 22 },
    ])
    const udp6 = `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07 0`
    assert.deepEqual(parseProcNet(udp6, 'udp'), [{ protocol: 'udp', address: null, port: 53 }])
  })
})

describe('port forwards in the firewall', () => {
  const topology = topologyFromText(
    '/lab/kvmctl.yaml',
    `name: demo
images: { tiny: { kernel: ./k } }
networks: { lan: { cidr: 10.0.0.0/24 } }
vms:
  web:
    image: tiny
    nics: [{ network: lan, ip: 10.0.0.5 }]
    ports: ["8080:80", "127.0.0.1:2222:22/tcp", "5353:53/udp"]
`,
    '/var/lib/kvmctl',
  )
  const table = renderTable('demo', topology.networks, topology.vms)

  it('DNATs from other machines and from the host; a loopback address only from the host', () => {
    const [, prerouting] = /chain prerouting \{([^}]*)\}/.exec(table)!
    const [, output] = /chain output \{([^}]*)\}/.exec(table)!
    assert.match(prerouting!, /fib daddr type local tcp dport 8080 dnat ip to 10\.0\.0\.5:80 /)
    assert.match(prerouting!, /fib daddr type local udp dport 5353 dnat ip to 10\.0\.0\.5:53 /)
    assert.doesNotMatch(prerouting!, /2222/)
    assert.match(output!, /ip daddr 127\.0\.0\.1 tcp dport 2222 dnat ip to 10\.0\.0\.5:22 /)
    // The guard: guests never reach the host's loopback through the bridge.
    assert.match(table, /iifname "[^"]+" ip daddr 127\.0\.0\.0\/8 drop/)
  })

  it('marks each forward so that observe reads back what the plan compares', () => {
    const comments = [...table.matchAll(/comment "([^"]+)"/g)].map((m) => m[1]!)
    assert.deepEqual(forwardsInComments(comments).get('web'), [
      '127.0.0.1:2222->10.0.0.5:22/tcp',
      '5353->10.0.0.5:53/udp',
      '8080->10.0.0.5:80/tcp',
    ])
    assert.deepEqual(desiredFields(topology.vms[0]!).ports, forwardsInComments(comments).get('web'))
  })
})

describe('shared folders', () => {
  // The folders must exist: validation checks that the person who ran kvmctl may read them.
  const lab = mkdtempSync(`${tmpdir()}/kvmctl-unit-`)
  for (const d of ['src', 'data']) mkdirSync(`${lab}/${d}`)
  after(() => rmSync(lab, { recursive: true, force: true }))
  const topology = topologyFromText(
    `${lab}/kvmctl.yaml`,
    `name: demo
images: { tiny: { kernel: ./k } }
vms:
  web:
    image: tiny
    cloud_init: {}
    mounts: [{ source: ./src, target: /src }, { source: ${lab}/data, target: /data, readonly: true }]
`,
    '/var/lib/kvmctl',
  )
  const vm = topology.vms[0]!

  it('are 9p devices on QEMU’s command line, read-only on the host where asked', () => {
    const argv = qemuArgv('demo', vm, [], { kvm: false, accelOverride: null })
    const fsdevs = argv.flatMap((a, i) => (argv[i - 1] === '-fsdev' ? [a] : []))
    assert.deepEqual(fsdevs, [
      `local,id=fs0,path=${lab}/src,security_model=none`,
      `local,id=fs1,path=${lab}/data,security_model=none,readonly=on`,
    ])
    assert.ok(argv.includes('virtio-9p-pci,fsdev=fs1,mount_tag=mount1'))
  })

  it('are mounted by cloud-init from the vendor-data, and part of the instance-id', () => {
    assert.equal(
      vm.cloudInit!.vendorData,
      '#cloud-config\nmounts:\n  - - mount0\n    - /src\n    - 9p\n    - trans=virtio,version=9p2000.L,msize=262144,rw,nofail\n    - "0"\n    - "0"\n  - - mount1\n    - /data\n    - 9p\n    - trans=virtio,version=9p2000.L,msize=262144,ro,nofail\n    - "0"\n    - "0"\n',
    )
    const without = topologyFromText(
      `${lab}/kvmctl.yaml`,
      'name: demo\nimages: { tiny: { kernel: ./k } }\nvms: { web: { image: tiny, cloud_init: {} } }\n',
      '/var/lib/kvmctl',
    ).vms[0]!
    assert.notEqual(without.cloudInit!.metaData['instance-id'], vm.cloudInit!.metaData['instance-id'])
  })
})
