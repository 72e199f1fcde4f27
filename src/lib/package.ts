import { existsSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The installed package's root: the nearest directory above this module with a package.json
 * (dist/bundle/kvmctl.js when installed, dist/src/lib/package.js in the tests).
 */
export const PACKAGE_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(`${dir}/package.json`) && dir !== dirname(dir)) dir = dirname(dir)
  return `${dir}/`
})()
export const SCHEMA_PATH = `${PACKAGE_ROOT}schemas/topology.schema.json`
/** The schema's validator, compiled by scripts/postbuild.js. */
export const VALIDATOR_PATH = `${PACKAGE_ROOT}dist/topology-validator.cjs`

let schemaCache: Record<string, unknown> | undefined
export function topologySchema(): Record<string, unknown> {
  schemaCache ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, unknown>
  return schemaCache
}

/** The installed kvmctl's version (package.json). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string }).version
}
