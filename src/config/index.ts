import { readFileSync, statSync } from 'node:fs'
import { type Diagnostic, KvmctlError, TopologyError } from '../lib/errors.js'
import { asInvoker, unreadableByInvoker } from '../lib/invoker.js'
import { topologySchema } from '../lib/package.js'
import { vmFiles } from '../model/layout.js'
import type { Topology } from '../model/types.js'
import {
  formatPath,
  type KeyPath,
  parseSourceDocument,
  readSourceDocument,
  type SourceDocument,
} from './load.js'
import type { RawTopology } from './raw.js'
import { pathFromFile, resolveTopology, UNIX_SOCKET_PATH_MAX, userDataPath } from './resolve.js'
import { checkSchema, type Finding } from './schema-check.js'
import { checkSemantics } from './semantic.js'

export { formatPath, parseSourceDocument, readSourceDocument, type SourceDocument } from './load.js'

/** Every problem in the file: YAML syntax, then schema and semantic problems together, by position. */
export function validateSource(source: SourceDocument): Diagnostic[] {
  if (source.syntaxErrors.length > 0) return [...source.syntaxErrors]
  const schemaFindings = checkSchema(source.data)
  // Where the schema already spoke about a key, the semantic check would only say it again.
  const reported = new Set(schemaFindings.map((f) => JSON.stringify(f.path)))
  const semanticFindings = checkSemantics(source.data).filter((f) => !reported.has(JSON.stringify(f.path)))
  return sortDiagnostics(dedupe([...schemaFindings, ...semanticFindings]).map((f) => toDiagnostic(source, f)))
}

export function toDiagnostic(source: SourceDocument, finding: Finding): Diagnostic {
  return {
    file: source.file,
    ...source.locate(finding.path, finding.at),
    path: formatPath(finding.path),
    message: finding.message,
  }
}

/** Reads, validates and resolves a topology file; throws TopologyError listing every problem. */
export async function loadTopology(file: string, stateDir: string): Promise<LoadedTopology> {
  return topologyFromSource(await readSourceDocument(file), stateDir)
}

export interface LoadedTopology {
  readonly topology: Topology
  readonly source: SourceDocument
  /** The same topology with another state directory: another host's paths (hosts.X.state_dir). */
  at(stateDir: string): Topology
}

/** The same for text already read (tests, saved plans). */
export function topologyFromText(file: string, text: string, stateDir: string): Topology {
  return topologyFromSource(parseSourceDocument(file, text), stateDir).topology
}

function topologyFromSource(source: SourceDocument, stateDir: string): LoadedTopology {
  const diagnostics = validateSource(source)
  if (diagnostics.length > 0) throw new TopologyError(diagnostics)
  const raw = source.data as RawTopology
  const { files, findings } = readUserDataFiles(raw, source.file)
  if (findings.length > 0) throw new TopologyError(findings.map((f) => toDiagnostic(source, f)))
  const at = (dir: string) => {
    checkStateDirPath(dir)
    const topology = resolveTopology(raw, source.file, dir, files)
    const late = checkResolved(topology).map((f) => toDiagnostic(source, f))
    if (late.length > 0) throw new TopologyError(late)
    return topology
  }
  return { topology: at(stateDir), source, at }
}

/** The cloud-init user data files the topology names, read (they are part of what it asks for). */
function readUserDataFiles(
  raw: RawTopology,
  file: string,
): { files: Map<string, string>; findings: Finding[] } {
  const files = new Map<string, string>()
  const findings: Finding[] = []
  for (const [name, vm] of Object.entries(raw.vms ?? {})) {
    const path = userDataPath(vm.cloud_init?.user_data)
    if (path === null) continue
    const absolute = pathFromFile(file, path)
    // Read as the person who ran kvmctl (sudo's user), so that a topology cannot make root read
    // for its author what the author may not read; a refusal says so and prints nothing of the file.
    const why = unreadableByInvoker(absolute)
    if (why === null)
      files.set(
        absolute,
        asInvoker(() => readFileSync(absolute, 'utf8')),
      )
    else {
      findings.push({
        path: ['vms', name, 'cloud_init', 'user_data'],
        at: 'value',
        message: `the user data file ${absolute} ${why} (a path is relative to the topology file; inline text must start with a header like #cloud-config)`,
      })
    }
  }
  return { files, findings }
}

/** Checks that need derived values: MACs derived onto a taken one, socket paths too long. */
function checkResolved(topology: Topology): Finding[] {
  const findings: Finding[] = []
  const macs = new Map<string, string>()
  for (const tap of topology.taps) {
    const other = macs.get(tap.mac)
    const path: KeyPath = ['vms', tap.vm, 'nics', tap.index]
    if (other)
      findings.push({
        path,
        at: 'value',
        message: `MAC ${tap.mac} is also used by ${other}; set mac: explicitly`,
      })
    macs.set(tap.mac, tap.address)
  }
  for (const vm of topology.vms) {
    vm.mounts.forEach((mount, index) => {
      // Read as the person who ran kvmctl: a topology shares only what its author may read.
      const why =
        unreadableByInvoker(mount.source) ??
        (statSync(mount.source).isDirectory() ? null : 'is not a directory')
      if (why)
        findings.push({
          path: ['vms', vm.name, 'mounts', index, 'source'],
          at: 'value',
          message: `the shared folder ${mount.source} ${why} (a path is relative to the topology file)`,
        })
    })
    const longest = vmFiles(vm.runDir).serial
    if (Buffer.byteLength(longest) > UNIX_SOCKET_PATH_MAX) {
      throw new KvmctlError(
        `the console socket of vm/${vm.name} would be ${longest} (${Buffer.byteLength(longest)} bytes), longer than the ${UNIX_SOCKET_PATH_MAX} bytes Linux allows for a unix socket`,
        'use a shorter --state-dir (or KVMCTL_STATE_DIR), or shorter lab and VM names',
      )
    }
  }
  return findings
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>()
  return findings.filter((f) => {
    const key = `${JSON.stringify(f.path)}\0${f.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics.sort((a, b) => a.line - b.line || a.col - b.col)
}

/**
 * A lab name given on the command line (`init --name`, `destroy --lab`) is held to the schema's
 * rule for `name:`, the one place that rule is written.
 */
export function checkLabName(name: string): void {
  const rule = (topologySchema().properties as Record<string, { pattern: string; 'x-hint': string }>).name!
  if (!new RegExp(rule.pattern).test(name)) throw new KvmctlError(`bad lab name "${name}"`, rule['x-hint'])
}

/** A lab with no resources of its own: what destroy --lab needs to find and remove a lab's objects. */
export function labOnly(lab: string, stateDir: string): Topology {
  checkLabName(lab)
  checkStateDirPath(stateDir)
  return resolveTopology({ name: lab }, '', stateDir)
}

/**
 * The state directory's path goes into every link's ownership marker (through `ip -batch`, which
 * splits on white space and quotes) and into QEMU's and dnsmasq's arguments: plain characters only.
 */
function checkStateDirPath(stateDir: string): void {
  if (!/^[A-Za-z0-9._/+@=,:-]+$/.test(stateDir)) {
    throw new KvmctlError(
      `the state directory ${JSON.stringify(stateDir)} has characters kvmctl does not pass to host commands`,
      'use a path of letters, digits and . _ / + @ = , : - (set with --state-dir or KVMCTL_STATE_DIR)',
    )
  }
}
