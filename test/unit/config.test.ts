import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { topologyFromText } from '../../src/config/index.js'
import { parseSourceDocument, readSourceDocument } from '../../src/config/load.js'
import { TopologyError } from '../../src/lib/errors.js'
import { firstHost, formatIp, parseCidr } from '../../src/lib/ipv4.js'
import { nearest } from '../../src/lib/suggest.js'
import { formatSize, parseDuration, parseSize } from '../../src/lib/units.js'
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
  it('reads anchors, aliases and tags, and locates syntax errors', () => {
    const doc = parseSourceDocument('t.yaml', 'a: &x { b: 1 }\nc: *x\nd: !!str 5\n')
    assert.deepEqual(doc.data, { a: { b: 1 }, c: { b: 1 }, d: '5' })
    const broken = parseSourceDocument('t.yaml', 'name: demo\nvms: [1, 2\n')
    assert.equal(broken.syntaxErrors.length > 0, true)
    assert.equal(broken.syntaxErrors[0]!.line, 3)
  })

  it('names a duplicate key and the line of its first occurrence', () => {
    const doc = parseSourceDocument('t.yaml', 'name: demo\nvms:\n  web: {}\n  db: {}\n  web: {}\n')
    assert.equal(doc.data, undefined)
    assert.deepEqual(
      doc.syntaxErrors.map((e) => `${e.line}:${e.col} ${e.message}`),
      ['5:3 YAML: duplicate key "web": it is already set on line 3'],
    )
  })

  it('resolves plain scalars by YAML 1.2 core rules', () => {
    const doc = parseSourceDocument('t.yaml', 'a: 0755\nb: yes\nc: 0x1F\nd: 256M\ne: ~\nf: 1_000\n')
    assert.deepEqual(doc.data, { a: 755, b: 'yes', c: 31, d: '256M', e: null, f: '1_000' })
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

describe('the parse cache', () => {
  it("gives back what the parser made of the same text, only from a directory that is the user's own", async () => {
    const home = mkdtempSync('/tmp/kvmctl-cache-')
    const saved = process.env.XDG_CACHE_HOME
    process.env.XDG_CACHE_HOME = home
    try {
      const file = `${home}/lab.yaml`
      writeFileSync(file, 'name: cached\nnetworks: { lan: {} }\n')
      assert.deepEqual((await readSourceDocument(file)).data, { name: 'cached', networks: { lan: {} } })
      const [entry] = readdirSync(`${home}/kvmctl/topologies`)
      const path = `${home}/kvmctl/topologies/${entry}`
      // The entry is what is read back: planted data shows the cache is used...
      const stored = JSON.parse(readFileSync(path, 'utf8'))
      writeFileSync(path, JSON.stringify({ ...stored, data: { name: 'from-the-cache' } }))
      assert.deepEqual((await readSourceDocument(file)).data, { name: 'from-the-cache' })
      // ...for that text only,
      writeFileSync(file, 'name: cached\nnetworks: { wan: {} }\n')
      assert.deepEqual((await readSourceDocument(file)).data, { name: 'cached', networks: { wan: {} } })
      // and never from a directory others may write to.
      writeFileSync(
        path,
        JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), data: { name: 'planted' } }),
      )
      chmodSync(`${home}/kvmctl/topologies`, 0o777)
      assert.deepEqual((await readSourceDocument(file)).data, { name: 'cached', networks: { wan: {} } })
      // Diagnostics of cached data still have their places.
      chmodSync(`${home}/kvmctl/topologies`, 0o700)
      writeFileSync(file, 'name: cached\nnetworks:\n  lan: { cidr: bad }\n')
      await readSourceDocument(file)
      const doc = await readSourceDocument(file)
      assert.deepEqual(doc.locate(['networks', 'lan', 'cidr']), { line: 3, col: 16 })
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME
      else process.env.XDG_CACHE_HOME = saved
      rmSync(home, { recursive: true, force: true })
    }
  })
})
