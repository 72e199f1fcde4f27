import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The installed package's root (dist/src/paths.js, or dist/bundle/kvmctl.js → ../..). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const SCHEMA_PATH = `${PACKAGE_ROOT}schemas/topology.schema.json`
/** The schema's validator, compiled by scripts/postbuild.js. */
export const VALIDATOR_PATH = `${PACKAGE_ROOT}dist/topology-validator.cjs`

let schemaCache: Record<string, unknown> | undefined
export function topologySchema(): Record<string, unknown> {
  schemaCache ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, unknown>
  return schemaCache
}
