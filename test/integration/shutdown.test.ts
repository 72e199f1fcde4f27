import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { TestHost } from '../helpers/host.js'

// A guest that cannot hear the ACPI power button (acpi=off): stopping it always takes its whole
// shutdown_timeout, then QEMU is told to quit.
const LAB = `
name: deaf
images:
  tiny: { kernel: ./guest/vmlinuz, initrd: ./guest/initrd.gz, cmdline: console=ttyS0 quiet acpi=off }
vms:
  deaf:
    image: tiny
    memory: 128M
    shutdown_timeout: 3s
    cmdline: kv.name=deaf
    ready: { serial: "KVMCTL-GUEST ready", timeout: 60s }
`

describe('shutdown timeouts', () => {
  let host: TestHost
  before(() => {
    host = new TestHost()
  })
  after(() => host.cleanup())

  it("destroy --target vm/x waits that VM's own shutdown_timeout, not the default 30 s", async () => {
    const file = host.topology('deaf.yaml', LAB)
    const apply = await host.kvmctl(['apply', '-f', file, '--auto-approve', '--wait'])
    assert.equal(apply.code, 0, apply.stderr)
    const began = Date.now()
    const destroy = await host.kvmctl(['destroy', '-f', file, '--target', 'vm/deaf', '--auto-approve'])
    const seconds = (Date.now() - began) / 1000
    assert.equal(destroy.code, 0, destroy.stderr)
    assert.ok(seconds >= 2.5 && seconds < 15, `destroy took ${seconds} s`)
    assert.deepEqual(host.pids(), [], 'the QEMU is gone')
    assert.equal((await host.kvmctl(['destroy', '-f', file, '--auto-approve'])).code, 0)
  })
})
