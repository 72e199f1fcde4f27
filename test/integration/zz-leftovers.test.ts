import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

// Runs last (files run one at a time, in name order): whatever a test file made must be gone.
describe('after the whole suite', () => {
  it('no test network namespace, QEMU, dnsmasq, swtpm or sshd of a test, nft table or mount remains', () => {
    const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith('kvmctl-t-'))
    assert.deepEqual(namespaces, [])
    const ours = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
        } catch {
          return ''
        }
      })
      // Test state directories are /tmp/kt-*, test clusters' /tmp/kc-*; their processes name them.
      .filter(
        (cmd) =>
          (/^(qemu-system|dnsmasq|swtpm)/.test(cmd) && cmd.includes('/tmp/kt-')) ||
          (/sshd/.test(cmd) && cmd.includes('/tmp/kc-')),
      )
    assert.deepEqual(ours, [])
    const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })
    assert.doesNotMatch(tables, /kvmctl_/)
    assert.doesNotMatch(readFileSync('/proc/mounts', 'utf8'), /\/tmp\/kt-/)
    const links = execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })
    assert.doesNotMatch(links, /"ifalias":"kvmctl:/)
  })
})
