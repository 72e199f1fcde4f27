import { Chalk, type ChalkInstance } from 'chalk'

/** Colours only where a person reads them: a terminal, without --no-color or NO_COLOR. */
export function makeStyle(options: { color: boolean; stream?: NodeJS.WriteStream }): ChalkInstance {
  const enabled = options.color && !process.env.NO_COLOR && (options.stream ?? process.stdout).isTTY === true
  return new Chalk({ level: enabled ? 1 : 0 })
}

export const plainStyle: ChalkInstance = new Chalk({ level: 0 })
