import type { ChalkInstance } from 'chalk'
import { diffLines } from 'diff'
import { escapeControl } from '../lib/terminal.js'
import type { FieldValue } from '../model/types.js'
import type { Action, ActionKind, Change, Plan, PlanHost } from '../plan/types.js'

const SYMBOLS: Readonly<Record<ActionKind, string>> = {
  create: '+',
  update: '~',
  restart: '~',
  replace: '-/+',
  delete: '-',
}

const VERBS: Readonly<Record<ActionKind, string>> = {
  create: 'create',
  update: 'update in-place',
  restart: 'restart',
  replace: 'replace',
  delete: 'delete',
}

/** Values longer than this, or with several lines, are shown as a line diff. */
const LONG_VALUE = 60

/** The human plan, rendered from the same structure as `plan --json`. */
export function renderPlan(plan: Plan, style: ChalkInstance): string {
  const lines: string[] = []
  if (plan.actions.length === 0) {
    lines.push(
      style.green('No changes.') + ` The ${plan.hosts ? 'hosts match' : 'host matches'} lab "${plan.lab}".`,
    )
  } else {
    const hosts = plan.hosts ? `the hosts of lab "${plan.lab}"` : `the host for lab "${plan.lab}"`
    const what = plan.destroy ? `destroy lab "${plan.lab}"` : `change ${hosts}`
    lines.push(`kvmctl will ${what} as follows:`, '')
    if (plan.hosts)
      for (const host of plan.hosts) {
        const actions = plan.actions.filter((a) => a.host === host.name)
        lines.push(hostLine(host, style), ...(actions.length === 0 ? ['  no changes', ''] : []))
        for (const action of actions) lines.push(...renderAction(action, style), '')
      }
    else for (const action of plan.actions) lines.push(...renderAction(action, style), '')
    lines.push(summaryLine(plan, style))
  }
  for (const note of plan.notes ?? []) lines.push(style.cyan(`Note: ${escapeControl(note)}`))
  for (const warning of plan.warnings) lines.push(style.yellow(`Warning: ${escapeControl(warning)}`))
  return lines.join('\n')
}

/** A host's heading in a plan across hosts: how it is reached, its kvmctl, its underlay address. */
function hostLine(host: PlanHost, style: ChalkInstance): string {
  const how = host.ssh === 'local' ? 'this machine' : `ssh ${escapeControl(host.ssh)}`
  const facts = [
    how,
    host.version ? `kvmctl ${host.version}` : null,
    host.underlay ? `underlay ${host.underlay}` : null,
  ]
  const head = `${style.bold(`Host ${host.name}`)} (${facts.filter(Boolean).join(', ')})${host.leaving ? ', leaving the lab' : ''}`
  return host.unreachable
    ? `${head}: ${style.yellow(`not observed: ${escapeControl(host.unreachable)}`)}`
    : `${head}:`
}

export function summaryLine(plan: Plan, style: ChalkInstance): string {
  const s = plan.summary
  return `${style.bold('Plan:')} ${s.create} to create, ${s.update} to update, ${s.restart} to restart, ${s.replace} to replace, ${s.delete} to delete.`
}

function colorOf(kind: ActionKind, style: ChalkInstance): (text: string) => string {
  switch (kind) {
    case 'create':
      return style.green
    case 'delete':
      return style.red
    case 'replace':
      return style.magenta
    default:
      return style.yellow
  }
}

function renderAction(action: Action, style: ChalkInstance): string[] {
  const color = colorOf(action.action, style)
  const head = `  ${color(`${SYMBOLS[action.action]} ${VERBS[action.action]}`)} ${style.bold(action.address)}`
  const lines = [action.destroys_data ? `${head}  ${style.red.bold('destroys data')}` : head]
  const width = Math.max(0, ...action.changes.map((c) => c.field.length))
  for (const change of action.changes) lines.push(...renderChange(change, width, action.action, style))
  return lines
}

function renderChange(change: Change, width: number, kind: ActionKind, style: ChalkInstance): string[] {
  const label = `      ${change.field.padEnd(width)}  `
  const before = show(change.before)
  const after = show(change.after)
  if (kind === 'create') {
    if (!isLong(after)) return [`${label}${after}`]
    return [`      ${change.field}`, ...after.split('\n').map((line) => `        ${line}`)]
  }
  const effect = style.dim(`(${change.effect})`)
  if (!isLong(before) && !isLong(after)) return [`${label}${before} → ${after}  ${effect}`]
  const out = [`      ${change.field}  ${effect}`]
  for (const part of diffLines(`${before}\n`, `${after}\n`)) {
    const prefix = part.added ? '+ ' : part.removed ? '- ' : '  '
    const paint = part.added ? style.green : part.removed ? style.red : style.dim
    for (const line of part.value.replace(/\n$/, '').split('\n')) out.push(paint(`        ${prefix}${line}`))
  }
  return out
}

function isLong(text: string): boolean {
  return text.length > LONG_VALUE || text.includes('\n')
}

export function show(value: FieldValue): string {
  if (value === null) return '(none)'
  if (Array.isArray(value)) return escapeControl(`[${value.join(', ')}]`)
  return escapeControl(String(value))
}
