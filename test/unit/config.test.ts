import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { topologyFromText } from '../../src/config/index.js'
import { firstHost, formatIp, parseCidr } from '../../src/config/ipv4.js'
import { commonSubsetData, parseFully, parseSourceDocument } from '../../src/config/load.js'
import { nearest } from '../../src/config/suggest.js'
import { formatSize, parseDuration, parseSize } from '../../src/config/units.js'
import { TopologyError } from '../../src/errors.js'
import { derivedMac, hostInterfaceName, interfaceNameProblem } from '../../src/model/names.js'

describe('units', () => {
  it('reads sizes as MiB or with K, M, G, T', () => {
    assert.equal(parseSize(512), 512 * 1024 ** 2)
    assert.equal(parseSize('512M'), 512 * 1024 ** 2)
    assert.equal(parseSize('1.5G'), 1536 * 1024 ** 2)
    assert.equal(parseSize('4K'), 4096)
    assert.equal(parseSize('1GB'), null)
    assert.equal(parseSize('1.5'), null)
    assert.equal(parseSize('0.3K'), null, 'a fraction of a byte is not a size')
  })
  it('writes sizes in their shortest exact form', () => {
    assert.equal(formatSize(256 * 1024 ** 2), '256M')
    assert.equal(formatSize(1024 ** 3), '1G')
    assert.equal(formatSize(1536 * 1024 ** 2), '1536M')
  })
  it('reads durations', () => {
    assert.equal(parseDuration('90s'), 90)
    assert.equal(parseDuration('5m'), 300)
    assert.equal(parseDuration(30), 30)
    assert.equal(parseDuration('500ms'), 0.5)
    assert.equal(parseDuration('5 minutes'), null)
  })
})

describe('ipv4', () => {
  it('finds the host address of a cidr', () => {
    const cidr = parseCidr('10.10.0.0/24')!
    assert.equal(formatIp(firstHost(cidr)), '10.10.0.1')
    assert.equal(parseCidr('10.10.0.7/24')!.hostBitsSet, true)
    assert.equal(parseCidr('10.10.0.0/33'), null)
    assert.equal(parseCidr('300.1.1.0/24'), null)
  })
})

describe('host names', () => {
  it('are at most 15 bytes, deterministic, and differ between labs', () => {
    const long = 'a-very-long-network-name-indeed'
    for (const name of ['lan', long, 'x']) {
      const a = hostInterfaceName('bridge', 'demo', name)
      assert.ok(Buffer.byteLength(a) <= 15, a)
      assert.equal(a, hostInterfaceName('bridge', 'demo', name))
      assert.notEqual(a, hostInterfaceName('bridge', 'other', name))
      assert.equal(interfaceNameProblem(a), null)
    }
    assert.match(hostInterfaceName('tap', 'demo', 'webserver-long.3'), /\.3$/, 'the NIC index stays visible')
    assert.notEqual(hostInterfaceName('tap', 'demo', 'web.0'), hostInterfaceName('bridge', 'demo', 'web.0'))
  })
  it('rejects what the kernel refuses', () => {
    assert.match(interfaceNameProblem('br-lab-uplink-01') ?? '', /16 bytes/)
    assert.notEqual(interfaceNameProblem('br 0'), null)
    assert.notEqual(interfaceNameProblem('br/0'), null)
    assert.equal(interfaceNameProblem('br0'), null)
  })
  it('derives stable unicast MACs', () => {
    const mac = derivedMac('demo', 'web', 0)
    assert.equal(mac, derivedMac('demo', 'web', 0))
    assert.notEqual(mac, derivedMac('demo', 'web', 1))
    assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/)
  })
})

describe('suggestions', () => {
  it('finds the nearest key', () => {
    assert.equal(nearest('netwrok', ['network', 'ip', 'mac']), 'network')
    assert.equal(nearest('memroy', ['cpus', 'memory']), 'memory')
    assert.equal(nearest('zzzzzz', ['cpus', 'memory']), null)
  })
})

describe('source positions', () => {
  it('locates keys and values by path', () => {
    const doc = parseSourceDocument(
      't.yaml',
      'name: demo\nvms:\n  web:\n    cpus: 2\n    nics:\n      - network: lan\n',
    )
    assert.deepEqual(doc.locate(['vms', 'web', 'cpus'], 'key'), { line: 4, col: 5 })
    assert.deepEqual(doc.locate(['vms', 'web', 'cpus']), { line: 4, col: 11 })
    assert.deepEqual(doc.locate(['vms', 'web', 'nics', 0, 'network']), { line: 6, col: 18 })
    assert.deepEqual(doc.locate(['vms', 'web', 'missing']), { line: 4, col: 5 }, 'falls back to the parent')
  })
})

describe('reading YAML', () => {
  const root = new URL('../../../', import.meta.url).pathname
  const files = [
    ...readdirSync(`${root}examples`)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `${root}examples/${f}`),
    ...readdirSync(`${root}test/fixtures/invalid`).map((f) => `${root}test/fixtures/invalid/${f}`),
  ]
  const full = (text: string) => parseFully('t.yaml', text)

  it('reads every example and fixture in the common subset as the full parser does', () => {
    let fast = 0
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      const data = commonSubsetData(text)
      if (data === undefined) continue
      fast++
      assert.deepEqual(data, full(text).data, file)
    }
    assert.ok(fast >= files.length - 4, `only ${fast} of ${files.length} files took the fast path`)
  })

  it('resolves plain scalars by YAML 1.2 core rules, as the full parser does', () => {
    const scalars = [
      '0755',
      '0o17',
      '0x1F',
      '0b101',
      '-0x1',
      '1_000',
      '+12',
      '-0',
      '1e3',
      '1.5e+3',
      '.inf',
      '-.Inf',
      '.NaN',
      '1.',
      '.5',
      'yes',
      'on',
      'True',
      'tRue',
      '~',
      'Null',
      '',
      '2001-12-14',
      '1:20',
      '12:30:00',
      '0.1',
      '00',
      '09',
      '1e',
      '0x',
      '256M',
      '10.0.0.0/24',
      'console=ttyS0 quiet',
    ]
    for (const value of scalars) {
      const text = `a: ${value}\nb: [${value}]\nc: { d: ${value} }\n`
      assert.deepEqual(commonSubsetData(text), full(text).data, JSON.stringify(value))
    }
  })

  it('agrees with the full parser on any plain scalar', () => {
    const plain = fc.stringMatching(/^[-+0-9a-fA-FoxXnNuUlLtTrReEsSiI._~:]{1,8}$/)
    fc.assert(
      fc.property(plain, (value) => {
        const text = `a: ${value}\n`
        const data = commonSubsetData(text)
        const reference = full(text)
        if (data !== undefined) assert.deepEqual(data, reference.data)
        else assert.ok(reference.syntaxErrors.length > 0 || /^[&*!?%]/.test(value), value)
      }),
      { numRuns: 2000 },
    )
  })

  it('leaves tags, anchors, aliases, directives, complex keys and errors to the full parser', () => {
    for (const text of [
      'a: &x { b: 1 }\nc: *x\n',
      'a: !!str 5\n',
      '%YAML 1.2\n---\na: 1\n',
      '? [1, 2]\n: x\n',
      'a: 1\na: 2\n',
      'a: [1, 2\n',
      '- a\n',
    ]) {
      assert.equal(commonSubsetData(text), undefined, text)
    }
    const doc = parseSourceDocument('t.yaml', 'a: &x { b: 1 }\nc: *x\n')
    assert.deepEqual(doc.data, { a: { b: 1 }, c: { b: 1 } })
    const broken = parseSourceDocument('t.yaml', 'name: demo\nvms: [1, 2\n')
    assert.equal(broken.syntaxErrors.length > 0, true)
    assert.equal(broken.syntaxErrors[0]!.line, 3)
  })
})

describe('resolve', () => {
  const text = `
name: demo
defaults: { cpus: 2, memory: 512M }
images:
  tiny: { kernel: ./k, initrd: ./i, cmdline: console=ttyS0 }
networks:
  lan: { cidr: 10.10.0.0/24 }
  up: { external: br0 }
disks:
  data: { size: 2G }
vms:
  web:
    image: tiny
    memory: 1G
    cmdline: kv.name=web
    nics: [{ network: lan, ip: 10.10.0.5 }, { network: up, mac: 52:54:00:AA:BB:CC }]
    disks: [data]
`
  it('fills defaults, derives names and addresses', () => {
    const t = topologyFromText('/labs/demo/kvmctl.yaml', text, '/var/lib/kvmctl')
    const vm = t.vms[0]!
    assert.equal(vm.cpus, 2, 'from defaults')
    assert.equal(vm.memoryMiB, 1024, "the VM's own value wins")
    assert.equal(vm.kernel, '/labs/demo/k', 'relative to the topology file')
    assert.equal(vm.cmdline, 'console=ttyS0 kv.name=web')
    assert.equal(vm.bootDisk, 'disk/web.boot')
    assert.deepEqual(vm.disks, ['disk/data'])
    assert.deepEqual(
      t.taps.map((tap) => tap.address),
      ['tap/web.0', 'tap/web.1'],
    )
    assert.equal(t.taps[1]!.mac, '52:54:00:aa:bb:cc')
    assert.equal(t.taps[1]!.bridge, 'br0', 'an external network uses the named bridge')
    assert.equal(t.networks[0]!.hostAddress, '10.10.0.1/24')
    assert.equal(
      t.disks.find((d) => d.name === 'web.boot')!.path,
      '/var/lib/kvmctl/demo/disks/web.boot.qcow2',
    )
  })
  it('resolving twice gives the same names and MACs', () => {
    const a = topologyFromText('/x/k.yaml', text, '/s')
    const b = topologyFromText('/x/k.yaml', text, '/s')
    assert.deepEqual(a, b)
  })
  it('refuses a state directory whose socket paths would be too long', () => {
    assert.throws(() => topologyFromText('/x/k.yaml', text, `/tmp/${'d'.repeat(90)}`), /unix socket/)
  })
  it('reports every problem with its position', () => {
    try {
      topologyFromText('bad.yaml', 'name: demo\nvms:\n  web:\n    image: nope\n    cpus: 0\n', '/s')
      assert.fail('expected a TopologyError')
    } catch (error) {
      assert.ok(error instanceof TopologyError)
      assert.deepEqual(
        error.diagnostics.map((d) => `${d.line}:${d.col} ${d.path}`),
        ['4:12 vms.web.image', '5:11 vms.web.cpus'],
      )
    }
  })
})
