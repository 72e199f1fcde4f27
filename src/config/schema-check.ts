import { createRequire } from 'node:module'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { topologySchema, VALIDATOR_PATH } from '../lib/package.js'
import { didYouMean } from '../lib/suggest.js'
import { AJV_OPTIONS, AJV_VOCABULARY } from './ajv-options.js'
import type { KeyPath } from './load.js'

/** A problem found in the file, located by key path; turned into file:line:col later. */
export interface Finding {
  readonly path: KeyPath
  readonly at: 'key' | 'value'
  readonly message: string
}

const require = createRequire(import.meta.url)
let validator: ValidateFunction | undefined

/**
 * The schema's validator, compiled at build time (scripts/postbuild.js) because compiling
 * it at every start would cost a user 100 ms on each `plan`; compiled here only when the
 * build did not make it.
 */
function compiled(): ValidateFunction {
  if (validator) return validator
  try {
    validator = require(VALIDATOR_PATH) as ValidateFunction
  } catch {
    const { Ajv } = require('ajv') as typeof import('ajv')
    const ajv = new Ajv(AJV_OPTIONS)
    ajv.addVocabulary(AJV_VOCABULARY)
    validator = ajv.compile(topologySchema())
  }
  return validator
}

/** Checks the raw document against schemas/topology.schema.json. */
export function checkSchema(data: unknown): Finding[] {
  const validate = compiled()
  if (validate(data)) return []
  const findings: Finding[] = []
  const seen = new Set<string>()
  for (const error of validate.errors ?? []) {
    const finding = toFinding(error)
    if (!finding) continue
    const key = JSON.stringify(finding.path)
    // One message per key: the first (most specific) error ajv reports for it wins.
    if (seen.has(key)) continue
    seen.add(key)
    findings.push(finding)
  }
  return findings
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return []
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part))
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)}`
}

function toFinding(error: ErrorObject): Finding | null {
  const path = pointerToPath(error.instancePath)
  const hint = (error.parentSchema as { 'x-hint'?: string } | undefined)?.['x-hint']
  // ajv follows a bad key name with a summary error of its own, which says nothing more.
  if (error.keyword === 'propertyNames') return null
  const propertyName = (error as { propertyName?: string }).propertyName
  if (propertyName !== undefined) {
    return {
      path: [...path, propertyName],
      at: 'key',
      message: `bad name "${propertyName}": ${hint ?? error.message}`,
    }
  }
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty
      const allowed = Object.keys((error.parentSchema as { properties?: object }).properties ?? {})
      return { path: [...path, key], at: 'key', message: `unknown key "${key}"${didYouMean(key, allowed)}` }
    }
    case 'required': {
      const key = (error.params as { missingProperty: string }).missingProperty
      return { path, at: path.length > 0 ? 'key' : 'value', message: `missing required key "${key}"` }
    }
    case 'type': {
      const expected = String((error.params as { type: string | string[] }).type).replace(',', ' or ')
      return { path, at: 'value', message: `must be ${article(expected)}, not ${describe(error.data)}` }
    }
    case 'pattern':
      return {
        path,
        at: 'value',
        message: `${JSON.stringify(error.data)} is not valid: ${hint ?? error.message}`,
      }
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.map(String)
      return {
        path,
        at: 'value',
        message: `${JSON.stringify(error.data)} is not one of ${allowed.join(', ')}${didYouMean(String(error.data), allowed).replace(/ \(known: .*\)$/, '')}`,
      }
    }
    case 'minimum':
      return {
        path,
        at: 'value',
        message: `must be at least ${(error.params as { limit: number }).limit}, not ${JSON.stringify(error.data)}`,
      }
    case 'maximum':
      return {
        path,
        at: 'value',
        message: `must be at most ${(error.params as { limit: number }).limit}, not ${JSON.stringify(error.data)}`,
      }
    case 'minLength':
      return { path, at: 'value', message: 'must not be empty' }
    default:
      return { path, at: 'value', message: error.message ?? `is not valid (${error.keyword})` }
  }
}

function article(type: string): string {
  const words: Record<string, string> = {
    object: 'a mapping',
    array: 'a list',
    string: 'a string',
    integer: 'an integer',
    number: 'a number',
    boolean: 'true or false',
    'integer or string': 'an integer or a string',
    'number or string': 'a number or a string',
    'string or object': 'a string or a mapping',
  }
  return words[type] ?? type
}
