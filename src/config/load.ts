import { readFile } from 'node:fs/promises'
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
import { type Diagnostic, KvmctlError } from '../lib/errors.js'
import { cachedTopologyData, cacheTopologyData } from './parse-cache.js'

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
  const cached = cachedTopologyData(file, text)
  if (cached !== undefined) {
    // Positions are needed only when a diagnostic names a place: then the text is parsed.
    let parsed: SourceDocument | undefined
    return {
      file,
      data: cached,
      syntaxErrors: [],
      locate: (path, at) => {
        parsed ??= parseSourceDocument(file, text)
        return parsed.locate(path, at)
      },
    }
  }
  const source = parseSourceDocument(file, text)
  if (source.syntaxErrors.length === 0) cacheTopologyData(file, text, source.data)
  return source
}

/**
 * Parses a topology with the `yaml` library, which keeps where every node stands: syntax errors,
 * every YAML construct, and the line and column of every key for diagnostics.
 */
export function parseSourceDocument(file: string, text: string): SourceDocument {
  const lineCounter = new LineCounter()
  // Duplicate keys are found below, so that the message can name the key and its first line.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, merge: false })
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
    visit(doc, {
      Map(_key, map) {
        const first = new Map<string, Node>()
        for (const pair of map.items) {
          if (!isScalar(pair.key)) continue
          const name = String(pair.key.value)
          const earlier = first.get(name)
          if (!earlier) first.set(name, pair.key)
          else
            syntaxErrors.push({
              file,
              ...position(pair.key.range?.[0] ?? 0),
              path: '',
              message: `YAML: duplicate key "${name}": it is already set on line ${position(earlier.range?.[0] ?? 0).line}`,
            })
        }
      },
      // An alias whose anchor is not defined before it is no parse error, but toJS throws on it.
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
