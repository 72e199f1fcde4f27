import { run } from './exec.js'

/**
 * The wires of p2p networks: no bridge, but each end's tap redirects every frame that enters it
 * (what its guest sends) out of the other end's tap (to the other guest), with tc: an ingress
 * qdisc, a u32 filter that matches everything, and the mirred action. Frames pass unchanged,
 * whatever their destination (LLDP, LACP, STP, PAUSE, tagged), which a Linux bridge never does
 * for all of them; and each tap stays a device of its own, to shape and to capture.
 */

/** Redirects everything entering each `from` out of its `to`, in one tc process; idempotent. */
export async function wireTaps(pairs: readonly { from: string; to: string }[]): Promise<void> {
  const lines = pairs.flatMap(({ from, to }) => [
    `qdisc replace dev ${from} ingress`,
    // A fixed priority and handle, so that a second run replaces the filter, never adds one.
    `filter replace dev ${from} ingress pref 1 protocol all handle 800::800 u32 match u32 0 0 action mirred egress redirect dev ${to}`,
  ])
  await run('tc', ['-batch', '-'], { input: `${lines.join('\n')}\n` })
}

/** Takes the redirect off a tap that is no longer on a p2p network. */
export async function unwireTap(device: string): Promise<void> {
  try {
    await run('tc', ['qdisc', 'del', 'dev', device, 'ingress'])
  } catch (error) {
    // No ingress qdisc: nothing to take off.
    if (!/Cannot find specified qdisc|Invalid handle|No such file/.test((error as Error).message)) throw error
  }
}

interface FilterJson {
  options?: { actions?: { kind?: string; mirred_action?: string; direction?: string; to_dev?: string }[] }
}

/** Where each device's ingress is redirected to (null: nowhere), from one `tc -j -batch -`. */
export async function observeWires(devices: readonly string[]): Promise<Map<string, string | null>> {
  const wires = new Map<string, string | null>()
  if (devices.length === 0) return wires
  const input = `${devices.map((d) => `filter show dev ${d} ingress`).join('\n')}\n`
  // tc prints one JSON array per command, in their order.
  const { stdout } = await run('tc', ['-j', '-batch', '-'], { input })
  const lists = stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FilterJson[])
  devices.forEach((device, i) => {
    const redirect = (lists[i] ?? [])
      .flatMap((f) => f.options?.actions ?? [])
      .find((a) => a.kind === 'mirred' && a.mirred_action === 'redirect' && a.direction === 'egress')
    wires.set(device, redirect?.to_dev ?? null)
  })
  return wires
}
