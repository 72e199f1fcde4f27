import * as Errors from '@oclif/core/errors'
import { flush } from '@oclif/core/flush'
import { run as runOclif } from '@oclif/core/run'
import { COMMANDS } from './commands/index.js'
import { didYouMean } from './lib/suggest.js'

export { COMMANDS } from './commands/index.js'

/**
 * The CLI's one entry: bin/run.js calls this from the bundle (oclif and every command in one
 * file, because resolving and loading a few hundred modules on every start cost more than the
 * work of a `plan`). Commands report their own errors (BaseCommand); what reaches here is oclif's
 * (an unknown command), which exits 1 like every error: exit 2 means "changes found" (docs/cli.md).
 */
export async function run(binUrl: string): Promise<void> {
  try {
    await runOclif(process.argv.slice(2), binUrl)
    await flush()
  } catch (error) {
    if (error instanceof Errors.ExitError) {
      process.exitCode = error.oclif.exit
      return
    }
    const message = (error as Error).message
    const unknown = /^command (\S+) not found/.exec(message)?.[1]
    process.stderr.write(
      unknown
        ? `Error: unknown command "${unknown}"${didYouMean(unknown, Object.keys(COMMANDS))}\nHint: \`kvmctl --help\` lists the commands\n`
        : `Error: ${message}\n`,
    )
    if (process.env.KVMCTL_DEBUG === '1') process.stderr.write(`${(error as Error).stack}\n`)
    process.exitCode = 1
  }
}
