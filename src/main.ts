import { execute } from '@oclif/core'

export { COMMANDS } from './commands/index.js'

/** The CLI: bin/run.js loads this file, bundled with oclif into one, because resolving and loading
 * a few hundred modules on every start cost more than the work of a `plan`. */
export async function run(binUrl: string): Promise<void> {
  await execute({ dir: binUrl })
}
