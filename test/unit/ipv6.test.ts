import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { contains6, firstHost6, formatCidr6, formatIp6, parseCidr6, parseIp6 } from '../../src/lib/ipv6.js'

describe('IPv6 addresses', () => {
  it('parses the usual forms and prints the canonical one (RFC 5952)', () => {
    for (const [text, canonical] of [
      ['fd00:10::10', 'fd00:10::10'],
      ['FD00:0010:0000:0000:0000:0000:0000:0010', 'fd00:10::10'],
      ['::1', '::1'],
      ['::', '::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['fd00:1:2:3:4:5:6:7', 'fd00:1:2:3:4:5:6:7'],
    ]) {
      const value = parseIp6(text!)
      assert.notEqual(value, null, text)
      assert.equal(formatIp6(value!), canonical)
    }
    for (const bad of [
      'fd00::10::1',
      'fd00:12345::1',
      '1:2:3:4:5:6:7:8:9',
      'fd00:g::1',
      '10.0.0.1',
      ':',
      '1:2:3:4:5:6:7',
    ])
      assert.equal(parseIp6(bad), null, bad)
  })

  it('reads a cidr, its host bits, what it contains, and the host address prefix::1', () => {
    const cidr = parseCidr6('fd00:77::/64')!
    assert.deepEqual([formatCidr6(cidr), cidr.hostBitsSet], ['fd00:77::/64', false])
    assert.equal(parseCidr6('fd00:77::5/64')!.hostBitsSet, true)
    assert.equal(formatIp6(firstHost6(cidr)), 'fd00:77::1')
    assert.equal(contains6(cidr, parseIp6('fd00:77::ffff:1')!), true)
    assert.equal(contains6(cidr, parseIp6('fd00:78::1')!), false)
    assert.equal(parseCidr6('fd00::/129'), null)
  })
})
