import { type ParseArgsConfig, parseArgs } from 'node:util'
import { reportError } from '../report-error.js'
import { applyCommand } from './apply.js'
import { CLI_DEFAULTS } from './defaults.js'
import { planCommand } from './plan.js'

type Options = NonNullable<ParseArgsConfig['options']>

/** The flags every command takes (base-command.ts). */
const GLOBAL: Options = {
  file: { type: 'string', short: 'f' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  'no-color': { type: 'boolean' },
}
const TARGET: Options = { target: { type: 'string', multiple: true } }
const APPLY: Options = {
  ...GLOBAL,
  ...TARGET,
  'auto-approve': { type: 'boolean' },
  parallelism: { type: 'string' },
  'lock-timeout': { type: 'string' },
}

/** Per command: its flags, how many arguments it takes, and how it runs. */
const COMMANDS: Record<
  string,
  { options: Options; args: number; run: (v: Values, args: string[]) => Promise<void> }
> = {
  plan: {
    options: {
      ...GLOBAL,
      ...TARGET,
      out: { type: 'string' },
      'detailed-exitcode': { type: 'boolean' },
      capacity: { type: 'string' },
    },
    args: 0,
    run: (v) =>
      planCommand({
        ...common(v),
        out: string(v.out),
        targets: v.target as string[] | undefined,
        detailedExitcode: v['detailed-exitcode'] === true,
        capacity: v.capacity === 'error' ? 'error' : 'warn',
      }),
  },
  apply: {
    options: { ...APPLY, wait: { type: 'boolean' } },
    args: 1,
    run: (v, args) =>
      applyCommand({ ...applyOptions(v), destroy: false, planFile: args[0], wait: v.wait === true }),
  },
  destroy: {
    options: { ...APPLY, lab: { type: 'string' } },
    args: 0,
    run: (v) => applyCommand({ ...applyOptions(v), destroy: true, lab: string(v.lab), wait: false }),
  },
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>

/**
 * The fast entry for the commands users run all the time (plan, apply, destroy): flags parsed
 * with node:util instead of oclif, whose loading was about a third of a plan's time. Anything it
 * does not know for sure (--help, an unknown or malformed flag, a value out of range) returns
 * false, and bin/run.js hands the command line to oclif, which answers as always. The same
 * defaults, environment, work (src/cli/) and error report as the oclif commands.
 */
export async function runFast(argv: readonly string[]): Promise<boolean> {
  const command = COMMANDS[argv[0] ?? '']
  if (!command) return false
  let values: Values
  let args: string[]
  try {
    const parsed = parseArgs({
      args: argv.slice(1),
      options: command.options,
      strict: true,
      allowPositionals: true,
    })
    values = parsed.values
    args = parsed.positionals
  } catch {
    return false
  }
  if (args.length > command.args || !valid(values)) return false
  try {
    await command.run(values, args)
  } catch (error) {
    reportError(error as Error, { json: values.json === true, color: values['no-color'] !== true })
  }
  return true
}

/** The checks oclif makes on these flags' values; oclif reports a failure in its own words. */
function valid(v: Values): boolean {
  if (v.capacity !== undefined && v.capacity !== 'warn' && v.capacity !== 'error') return false
  if (v.parallelism !== undefined && !(integer(v.parallelism) >= 1)) return false
  if (v['lock-timeout'] !== undefined && !(integer(v['lock-timeout']) >= 0)) return false
  return true
}

const integer = (value: unknown) =>
  typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN
const string = (value: unknown) => (typeof value === 'string' ? value : undefined)

function common(v: Values) {
  return {
    file: string(v.file) ?? CLI_DEFAULTS.file,
    stateDir: string(v['state-dir']) ?? process.env[CLI_DEFAULTS.stateDirEnv] ?? CLI_DEFAULTS.stateDir,
    json: v.json === true,
    color: v['no-color'] !== true,
  }
}

function applyOptions(v: Values) {
  return {
    ...common(v),
    targets: v.target as string[] | undefined,
    autoApprove: v['auto-approve'] === true,
    parallelism: v.parallelism !== undefined ? integer(v.parallelism) : CLI_DEFAULTS.parallelism,
    lockTimeout: v['lock-timeout'] !== undefined ? integer(v['lock-timeout']) : CLI_DEFAULTS.lockTimeout,
  }
}
