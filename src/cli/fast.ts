import { parseArgs } from 'node:util'
import { reportError } from '../report-error.js'
import { planCommand } from './plan.js'

/**
 * The fast entry for `kvmctl plan`: its flags parsed with node:util, without oclif, whose
 * loading took about a third of a plan's time. Anything it does not know for sure (--help, an
 * unknown or malformed flag) returns false, and bin/run.js hands the whole command line to
 * oclif, which answers as always. Same defaults, environment and errors as the oclif command.
 */
export async function runFast(argv: readonly string[]): Promise<boolean> {
  if (argv[0] !== 'plan') return false
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse(argv.slice(1)).values
  } catch {
    return false
  }
  if (values.capacity !== undefined && values.capacity !== 'warn' && values.capacity !== 'error') return false
  const json = values.json === true
  const color = values['no-color'] !== true
  try {
    await planCommand({
      file: values.file ?? 'kvmctl.yaml',
      stateDir: values['state-dir'] ?? process.env.KVMCTL_STATE_DIR ?? '/var/lib/kvmctl',
      json,
      color,
      out: values.out,
      targets: values.target,
      detailedExitcode: values['detailed-exitcode'] === true,
      capacity: (values.capacity as 'warn' | 'error' | undefined) ?? 'warn',
    })
  } catch (error) {
    reportError(error as Error, { json, color })
  }
  return true
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      file: { type: 'string', short: 'f' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      out: { type: 'string' },
      target: { type: 'string', multiple: true },
      'detailed-exitcode': { type: 'boolean' },
      capacity: { type: 'string' },
    },
  })
}
