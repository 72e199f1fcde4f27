import { spawnSync } from 'node:child_process'

/** Ends every process in a scratch network namespace (a test's or a benchmark's) and deletes it. */
export function removeNetns(netns: string): void {
  for (const pid of spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {}
  }
  spawnSync('ip', ['netns', 'del', netns])
}
