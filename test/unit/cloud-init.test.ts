import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { describe, it } from 'node:test'
import { parse } from 'yaml'
import {
  CLOUD_INIT_WAIT,
  cloudInitDocuments,
  derivedNetworkConfig,
  userDataUser,
  withLabKeys,
} from '../../src/cloud-init/documents.js'
import { redactUserData, SENSITIVE } from '../../src/cloud-init/sensitive.js'
import { loadTopology } from '../../src/config/index.js'
import type { TopologyError } from '../../src/lib/errors.js'

const KEYS = {
  authorizedKey: 'ssh-ed25519 AAAAlab kvmctl lab demo',
  hostPrivateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n',
  hostPublicKey: 'ssh-ed25519 AAAAhost',
}

describe('cloud-init seed documents', () => {
  it('derives a network config from the NICs, by their names: DHCP (and DHCPv6), fixed addresses with the NAT gateway, or nothing', () => {
    const config = derivedNetworkConfig([
      {
        name: 'eth0',
        mac: '52:54:00:00:00:01',
        address: null,
        dhcp: true,
        gateway: null,
        address6: null,
        dhcp6: true,
      },
      {
        name: 'eth1',
        mac: '52:54:00:00:00:02',
        address: '10.0.0.5/24',
        dhcp: false,
        gateway: '10.0.0.1',
        address6: 'fd00:10::5/64',
        dhcp6: false,
      },
      {
        name: 'uplink',
        mac: '52:54:00:00:00:03',
        address: null,
        dhcp: false,
        gateway: null,
        address6: null,
        dhcp6: false,
      },
    ])
    assert.deepEqual(config, {
      version: 2,
      ethernets: {
        eth0: { match: { macaddress: '52:54:00:00:00:01' }, 'set-name': 'eth0', dhcp4: true, dhcp6: true },
        eth1: {
          match: { macaddress: '52:54:00:00:00:02' },
          'set-name': 'eth1',
          addresses: ['10.0.0.5/24', 'fd00:10::5/64'],
          routes: [{ to: '0.0.0.0/0', via: '10.0.0.1' }],
        },
        uplink: {
          match: { macaddress: '52:54:00:00:00:03' },
          'set-name': 'uplink',
          dhcp4: false,
          optional: true,
        },
      },
    })
  })

  it('derives the instance-id from the content: same content same id, any change a new one', () => {
    const id = (raw: Parameters<typeof cloudInitDocuments>[1], vm = 'web') =>
      cloudInitDocuments(vm, raw, []).metaData['instance-id']
    assert.equal(id({ userData: { hostname: 'a' } }), id({ userData: { hostname: 'a' } }))
    assert.notEqual(id({ userData: { hostname: 'a' } }), id({ userData: { hostname: 'b' } }))
    assert.notEqual(id({ userData: { hostname: 'a' } }), id({ userData: { hostname: 'a' } }, 'db'))
    assert.notEqual(id({ metaData: { x: 1 } }), id({ metaData: { x: 2 } }))
    const docs = cloudInitDocuments(
      'web',
      { userData: { hostname: 'a' }, metaData: { 'instance-id': 'mine' } },
      [],
    )
    assert.equal(docs.metaData['instance-id'], 'mine', "the user's own instance-id wins")
    assert.equal(docs.metaData['local-hostname'], 'web')
    assert.equal(docs.userData, '#cloud-config\nhostname: a\n')
  })

  it('adds the lab key for the default user and the VM host key, unless the user data manages them', () => {
    const seeded = parse(withLabKeys('#cloud-config\nhostname: a\n', KEYS))
    assert.deepEqual(seeded.ssh_authorized_keys, [KEYS.authorizedKey])
    assert.equal(seeded.ssh_keys.ed25519_public, KEYS.hostPublicKey)
    assert.equal(seeded.hostname, 'a')
    const own = parse(
      withLabKeys('#cloud-config\nssh_authorized_keys: [mine]\nssh_keys: {rsa_private: x}\n', KEYS),
    )
    assert.deepEqual(own.ssh_authorized_keys, ['mine'])
    assert.deepEqual(own.ssh_keys, { rsa_private: 'x' })
    const users = parse(withLabKeys('#cloud-config\nusers: [default, {name: alice}]\n', KEYS))
    assert.deepEqual(users.users, ['default', { name: 'alice', ssh_authorized_keys: [KEYS.authorizedKey] }])
    assert.equal(withLabKeys('#!/bin/sh\necho hi\n', KEYS), '#!/bin/sh\necho hi\n', 'a script is left alone')
  })

  it('finds the login user the user data names', () => {
    assert.equal(userDataUser('#cloud-config\nuser: { name: ops }\n'), 'ops')
    assert.equal(userDataUser('#cloud-config\nusers: [default, { name: alice }]\n'), 'alice')
    assert.equal(userDataUser('#cloud-config\nhostname: a\n'), null)
    assert.equal(userDataUser('#!/bin/sh\n'), null)
  })

  it('reads user_data from a file next to the topology, and names file, line and key when it is missing', async () => {
    const dir = mkdtempSync(`${tmpdir()}/kvmctl-ci-`)
    writeFileSync(`${dir}/web.yaml`, '#cloud-config\nhostname: from-file\n')
    const lab = (userData: string) =>
      `name: demo\nimages:\n  i: { kernel: ./k }\nvms:\n  web:\n    image: i\n    cloud_init:\n      user_data: ${userData}\n    ready: { ssh: true }\n`
    writeFileSync(`${dir}/ok.yaml`, lab('./web.yaml'))
    const { topology } = await loadTopology(`${dir}/ok.yaml`, '/var/lib/kvmctl')
    const vm = topology.vms[0]!
    assert.equal(vm.cloudInit!.userData, '#cloud-config\nhostname: from-file\n')
    assert.equal(vm.ready!.ssh, CLOUD_INIT_WAIT)
    assert.equal(vm.sshUser, 'debian')
    writeFileSync(`${dir}/missing.yaml`, lab('./nope.yaml'))
    await assert.rejects(loadTopology(`${dir}/missing.yaml`, '/var/lib/kvmctl'), (error: TopologyError) => {
      assert.equal(error.diagnostics[0]!.line, 8)
      assert.equal(error.diagnostics[0]!.path, 'vms.web.cloud_init.user_data')
      assert.match(error.diagnostics[0]!.message, /the user data file .*nope\.yaml does not exist/)
      return true
    })
  })
})

describe('secrets in user data', () => {
  it('replaces passwords, chpasswd, tokens, private keys, owner-only files and listed keys, and nothing else', () => {
    const userData = `#cloud-config
hostname: web
password: hunter2
chpasswd: { list: "root:x" }
users: [{ name: ops, plain_text_passwd: p1, hashed_passwd: p2, groups: sudo }]
ssh_keys: { ed25519_private: KEY, ed25519_public: PUB }
write_files:
  - { path: /etc/secret, permissions: "0600", content: s3cret }
  - { path: /etc/motd, content: hello }
runcmd: [echo token-in-a-command]
api_token: t0k
`
    const shown = redactUserData(userData, ['runcmd'])
    for (const secret of ['hunter2', 'root:x', 'p1', 'p2', 'KEY', 's3cret', 'token-in-a-command', 't0k'])
      assert.ok(!shown.includes(secret), `${secret} in:\n${shown}`)
    for (const kept of ['hostname: web', 'name: ops', 'groups: sudo', 'PUB', 'content: hello'])
      assert.ok(shown.includes(kept), `${kept} missing in:\n${shown}`)
    assert.equal(redactUserData(userData, true), SENSITIVE)
    assert.equal(
      redactUserData('#!/bin/sh\necho hi\n'),
      '#!/bin/sh\necho hi\n',
      'a script has no keys to read',
    )
  })
})
