import { readFile } from 'node:fs/promises'
import { FAILSAFE_SCHEMA, load as loadCommonYaml, Type } from 'js-yaml'
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml'
import { type Diagnostic, KvmctlError } from '../errors.js'

export type KeyPath = readonly (string | number)[]

/** A parsed topology file that still knows where every key and value stands. */
export interface SourceDocument {
  readonly file: string
  readonly data: unknown
  readonly syntaxErrors: readonly Diagnostic[]
  /** Line and column (1-based) of a key (`at: 'key'`) or its value. */
  locate(path: KeyPath, at?: 'key' | 'value'): { line: number; col: number }
}

export function formatPath(path: KeyPath): string {
  let out = ''
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part
  return out
}

export async function readSourceDocument(file: string): Promise<SourceDocument> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const hint =
      code === 'ENOENT'
        ? 'pass the topology with -f PATH, or run `kvmctl init` to write a starter kvmctl.yaml'
        : undefined
    throw new KvmctlError(`cannot read topology ${file}: ${(error as Error).message}`, hint, { cause: error })
  }
  return parseSourceDocument(file, text)
}

/**
 * Parses a topology. `plan` reads the topology on every run, and the `yaml` library, which knows
 * where every node stands, takes ~40 ms for a 50-VM file before its code is warm; js-yaml takes
 * ~8. So a file in the common subset of YAML (no tags, anchors, aliases, directives or complex
 * keys) is read by js-yaml with YAML 1.2 core scalars, exactly as `yaml` reads them; positions
 * are asked of `yaml` only when a diagnostic needs one. Anything else, a syntax error included,
 * is read by `yaml` alone, so that the rare constructs and the error messages have one source.
 */
export function parseSourceDocument(file: string, text: string): SourceDocument {
  const data = commonSubsetData(text)
  if (data === undefined) return parseFully(file, text)
  let full: SourceDocument | undefined
  return {
    file,
    data,
    syntaxErrors: [],
    locate: (path, at) => {
      full ??= parseFully(file, text)
      return full.locate(path, at)
    },
  }
}

/**
 * A node that starts with a tag (!), an anchor (&), an alias (*), a complex key (?) or a
 * directive (%) at a line's start. Conservative: the same characters at the start of a word
 * inside a string (`[ ! -f x ]` in a script) also send the file to the full parser, which is
 * only slower.
 */
const OUTSIDE_COMMON_SUBSET = /(?:^|[\s[\]{},])[!&*?]|^%/m

/** A plain scalar that matches `test` is `construct(it)`, as in YAML 1.2's core schema. */
const scalar = (tag: string, test: RegExp, construct: (s: string) => unknown) =>
  new Type(`tag:yaml.org,2002:${tag}`, { kind: 'scalar', resolve: (s: string) => test.test(s), construct })

/** YAML 1.2 core schema scalars, with the `yaml` library's own patterns (its schema/core). */
const CORE_SCALARS = FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar('bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'),
    scalar('int', /^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$/, (s) =>
      s.startsWith('0o')
        ? Number.parseInt(s.slice(2), 8)
        : s.startsWith('0x')
          ? Number.parseInt(s.slice(2), 16)
          : Number.parseInt(s, 10),
    ),
    scalar(
      'float',
      /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$/,
      (s) =>
        /nan$/i.test(s)
          ? Number.NaN
          : /inf$/i.test(s)
            ? (s.startsWith('-') ? -1 : 1) * Number.POSITIVE_INFINITY
            : Number.parseFloat(s),
    ),
  ],
})

/** The file's data when it is in the common subset and parses; undefined otherwise. */
export function commonSubsetData(text: string): Record<string, unknown> | undefined {
  if (OUTSIDE_COMMON_SUBSET.test(text)) return undefined
  try {
    const data = loadCommonYaml(text, { schema: CORE_SCALARS })
    return data !== null && typeof data === 'object' && !Array.isArray(data)
      ? (data as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** The full parser: syntax errors with positions, every YAML construct, and positions of keys. */
export function parseFully(file: string, text: string): SourceDocument {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false })
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset)
    return { line, col }
  }
  const syntaxErrors: Diagnostic[] = doc.errors.map((error) => ({
    file,
    ...position(error.pos[0]),
    path: '',
    message: `YAML: ${firstLine(error.message)}`,
  }))
  if (syntaxErrors.length === 0) {
    // An alias whose anchor is not defined before it is no parse error, but toJS throws on it.
    visit(doc, {
      Alias(_key, node) {
        if (node.resolve(doc) === undefined) {
          syntaxErrors.push({
            file,
            ...position(node.range?.[0] ?? 0),
            path: '',
            message: `YAML: the alias *${node.source} has no anchor &${node.source} before it`,
          })
        }
      },
    })
  }
  const data = syntaxErrors.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 })
  return {
    file,
    data,
    syntaxErrors,
    locate: (path, at = 'value') => position(offsetOf(doc, path, at)),
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '')
}

/** Walks the YAML tree along `path` and returns the start offset of the deepest node found. */
function offsetOf(doc: Document, path: KeyPath, at: 'key' | 'value'): number {
  let node: Node | null = doc.contents
  let offset = node?.range?.[0] ?? 0
  for (let i = 0; i < path.length && node; i++) {
    const part = path[i]
    const last = i === path.length - 1
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part),
      )
      if (!pair) break
      const key = pair.key as Node
      const value = pair.value as Node | null
      if (last && at === 'key') return key.range?.[0] ?? offset
      node = value
      offset = value?.range?.[0] ?? key.range?.[0] ?? offset
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as Node | undefined
      if (!item) break
      node = item
      offset = item.range?.[0] ?? offset
    } else {
      break
    }
  }
  return offset
}
