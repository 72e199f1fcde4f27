import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { topologyFromText } from '../../src/config/index.js'
import { sumsEntry } from '../../src/host/checksums.js'
import { macOfDuid } from '../../src/host/dhcp-ops.js'
import { labNameTakenBy, linkConflicts, ownedLinks, parseLinks } from '../../src/host/links.js'
import { processState } from '../../src/host/process.js'
import { readDiskFile } from '../../src/host/qcow2.js'
import { chooseAccel, qemuArgv } from '../../src/host/qemu-argv.js'
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
