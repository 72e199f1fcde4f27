import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { TestCluster } from '../helpers/cluster.js'
import { waitFor } from '../helpers/host.js'

// The test cluster that tests of labs spanning hosts stand on: three "hosts", each a network
// namespace with its own sshd, reached from a controller over real OpenSSH with pinned keys.
describe('the test cluster: network-namespace hosts with their own sshd', () => {
  let cluster: TestCluster
  before(async () => {
    cluster = new TestCluster(['a', 'b', 'c'])
    await waitFor(
      'every sshd to answer',
      () => cluster.hosts.every((h) => cluster.ssh(h.name, ['true']).status === 0) || null,
      20_000,
    )
  })
  after(() => cluster.cleanup())

  it('reaches each host over ssh, and each is its own network namespace', () => {
    for (const host of cluster.hosts) {
      const result = cluster.ssh(host.name, ['ip', '-4', '-o', 'addr', 'show', 'underlay0'])
      assert.equal(result.status, 0, result.stderr)
      assert.match(result.stdout, new RegExp(`inet ${host.address.replaceAll('.', '\\.')}/24`))
    }
  })

  it('refuses a host whose key is not the pinned one', () => {
    // b's address pinned to a's key: b is then not who the controller expects.
    const b = cluster.hosts[1]!
    writeFileSync(`${cluster.dir}/wrong_known_hosts`, `${b.address} ${cluster.hostKey('a')}\n`)
    const wrong = `${cluster.dir}/ssh_config_wrong`
    writeFileSync(
      wrong,
      readFileSync(cluster.sshConfig, 'utf8').replaceAll(
        cluster.knownHosts,
        `${cluster.dir}/wrong_known_hosts`,
      ),
    )
    const result = cluster.ssh('b', ['true'], wrong)
    assert.equal(result.status, 255)
    assert.match(result.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/)
  })
})
