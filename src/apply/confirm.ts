import { createInterface } from 'node:readline/promises'
import { KvmctlError } from '../lib/errors.js'

/**
 * Asks a person on the terminal to type "yes" before something that changes or loses data is
 * done; without a terminal (CI), refuses and says to pass --auto-approve after reviewing.
 */
export async function confirmOnTerminal(question: string, action: string): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new KvmctlError(
      `refusing to ${action} without confirmation: there is no terminal to ask on`,
      'review the plan above, then run again with --auto-approve (as CI jobs do)',
    )
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await prompt.question(`\n${question} Only "yes" is accepted: `)
    if (answer.trim() !== 'yes') throw new KvmctlError('cancelled; nothing was changed')
  } finally {
    prompt.close()
  }
}
