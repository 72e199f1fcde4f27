/** One check's outcome, as `kvmctl check` and `kvmctl test` report it. */
export interface CheckResult {
  readonly name: string
  readonly vm: string
  readonly passed: boolean
  readonly attempts: number
  /** The last try's exit code (255: ssh itself failed), or null when it timed out. */
  readonly exitCode: number | null
  /** The last try's output, stdout then stderr. */
  readonly output: string
  readonly seconds: number
}

/** XML text and attribute values, and no character XML 1.0 forbids (a guest may print any). */
function xml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
}

/**
 * A JUnit XML report, as CI systems read it: one testsuite for the lab, one testcase per check
 * (classname the VM it ran in), a failed one with its failure and the output of its last try.
 */
export function renderJunit(lab: string, results: readonly CheckResult[], seconds: number): string {
  const failures = results.filter((r) => !r.passed).length
  const cases = results.map((r) => {
    const head = `    <testcase classname="${xml(`${lab}.${r.vm}`)}" name="${xml(r.name)}" time="${r.seconds.toFixed(3)}">`
    const why =
      r.exitCode === null
        ? `timed out after ${r.attempts} tries`
        : `exit ${r.exitCode} after ${r.attempts} ${r.attempts === 1 ? 'try' : 'tries'}`
    const body = r.passed
      ? [`      <system-out>${xml(r.output)}</system-out>`]
      : [`      <failure message="${xml(why)}" type="check">${xml(r.output)}</failure>`]
    return [head, ...body, '    </testcase>'].join('\n')
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="kvmctl" tests="${results.length}" failures="${failures}" time="${seconds.toFixed(3)}">`,
    `  <testsuite name="${xml(lab)}" tests="${results.length}" failures="${failures}" errors="0" time="${seconds.toFixed(3)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n')
}
