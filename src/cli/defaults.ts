/** The command line's defaults: one place for the oclif flags and the fast entry (fast.ts). */
export const CLI_DEFAULTS = {
  file: 'kvmctl.yaml',
  stateDir: '/var/lib/kvmctl',
  /** The environment variable that sets --state-dir. */
  stateDirEnv: 'KVMCTL_STATE_DIR',
  parallelism: 4,
  lockTimeout: 0,
} as const
