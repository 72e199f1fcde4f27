/**
 * One error hierarchy. Every error a user can meet is a KvmctlError with a message that
 * says what went wrong and a hint that says what to do next; the base command prints it
 * once, without a stack trace unless KVMCTL_DEBUG=1.
 */
export class KvmctlError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = new.target.name
  }
}

export interface Diagnostic {
  readonly file: string
  readonly line: number
  readonly col: number
  /** The key's path, like vms.web.nics[0].network. */
  readonly path: string
  readonly message: string
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.path ? `${d.path}: ` : ''}${d.message}`
}

/** The topology file is wrong: every problem found, each with file, line and column. */
export class TopologyError extends KvmctlError {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(
      diagnostics.map(formatDiagnostic).join('\n'),
      `fix the ${diagnostics.length === 1 ? 'problem' : `${diagnostics.length} problems`} above; nothing on the host was changed`,
    )
  }
}

export interface PlanProblem {
  readonly address: string
  readonly message: string
}

/** The plan cannot be made safely (ownership conflict, protected disk, shrink...). */
export class PlanError extends KvmctlError {
  constructor(
    readonly problems: readonly PlanProblem[],
    hint = 'nothing on the host was changed',
  ) {
    super(problems.map((p) => `${p.address}: ${p.message}`).join('\n'), hint)
  }
}

/** A host program failed: keeps its argument array, exit code and stderr. */
export class HostCommandError extends KvmctlError {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    const detail =
      stderr.trim() || (exitCode === undefined ? 'it could not be started' : `exit code ${exitCode}`)
    super(`\`${argv.join(' ')}\` failed: ${detail}`, undefined, options)
  }
}
