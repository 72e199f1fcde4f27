import { KvmctlError, TopologyError } from './lib/errors.js'
import { escapeControl } from './lib/terminal.js'
import { makeStyle } from './render/style.js'

/**
 * How every command reports a failure: the message and its hint on stderr (every problem of a
 * topology at its file:line:col), an `{"error": ...}` document on stdout under --json, a stack
 * only with KVMCTL_DEBUG=1, and exit code 1.
 */
export function reportError(error: Error, options: { json: boolean; color: boolean }): void {
  const hint = error instanceof KvmctlError && error.hint ? escapeControl(error.hint) : undefined
  const style = makeStyle({ color: options.color, stream: process.stderr })
  if (options.json) {
    const document = {
      error: {
        type: error instanceof KvmctlError ? error.name : 'Error',
        message: error.message,
        hint: hint ?? null,
        diagnostics: error instanceof TopologyError ? error.diagnostics : undefined,
      },
    }
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`)
  }
  // Messages quote the topology and the host: what they quote is not let at the terminal raw.
  const message = escapeControl(error.message)
  const lines =
    error instanceof TopologyError
      ? [
          ...message.split('\n'),
          style.red.bold('Error: ') +
            `${error.diagnostics.length} problem${error.diagnostics.length === 1 ? '' : 's'} in ${error.diagnostics[0]?.file}`,
        ]
      : [style.red.bold('Error: ') + message]
  if (hint) lines.push(style.dim(`Hint: ${hint}`))
  if (process.env.KVMCTL_DEBUG === '1' && error.stack) lines.push(error.stack)
  process.stderr.write(`${lines.join('\n')}\n`)
  process.exitCode = 1
}
