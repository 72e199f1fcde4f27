import { isMap, isPair, isScalar, isSeq, type Node, parseDocument } from 'yaml'
import { toCloudYaml } from './documents.js'

/** What kvmctl prints in place of a secret. */
export const SENSITIVE = '(sensitive)'

/**
 * Keys of cloud-init user data whose values are secrets: passwords (`password`, `passwd`,
 * `plain_text_passwd`, `hashed_passwd`, `chpasswd` and all under it), tokens, secrets, private
 * keys (`ssh_keys.*_private`, `private_key`), API keys and credentials.
 */
const SECRET_KEY = /passw(or)?d|^chpasswd$|token|secret|private|api_?key|credential/i

/** write_files entries readable by their owner alone hold secrets: their content is one. */
const OWNER_ONLY = /^0?o?[0-7]?[0-7]00$/

/**
 * The user data as it may be printed: every secret value replaced by `(sensitive)`, by the rules
 * above and for the top-level keys the topology lists in `cloud_init.sensitive` (`true`: all of
 * it). User data that is not #cloud-config (a script, a MIME archive) cannot be read for keys:
 * it is printed only when the topology does not say it is sensitive.
 */
export function redactUserData(userData: string, sensitive: boolean | readonly string[] = []): string {
  if (sensitive === true) return SENSITIVE
  if (!/^#cloud-config[ \t]*\r?\n/.test(userData)) return userData
  const doc = parseDocument(userData, { version: '1.1' })
  if (doc.errors.length > 0) return SENSITIVE
  const extra = new Set(sensitive === false ? [] : sensitive)
  if (isMap(doc.contents)) {
    for (const pair of doc.contents.items) {
      if (isScalar(pair.key) && extra.has(String(pair.key.value)))
        pair.value = doc.createNode(SENSITIVE) as typeof pair.value
    }
  }
  redactNode(doc.contents as Node | null, doc)
  return `#cloud-config\n${doc.toString({ lineWidth: 0 }).replace(/^#cloud-config\n/, '')}`
}

function redactNode(node: Node | null, doc: ReturnType<typeof parseDocument>): void {
  if (isMap(node)) {
    const owned = node.items.some(
      (p) =>
        isScalar(p.key) &&
        p.key.value === 'permissions' &&
        isScalar(p.value) &&
        OWNER_ONLY.test(String(p.value.value)),
    )
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue
      const key = String(pair.key.value)
      if (SECRET_KEY.test(key) || (owned && key === 'content')) pair.value = doc.createNode(SENSITIVE)
      else redactNode(pair.value as Node | null, doc)
    }
  } else if (isSeq(node)) {
    for (const item of node.items) redactNode(item as Node | null, doc)
  }
}

/**
 * A VM's seed as the plan shows it (the `cloud_init` field's text: user-data, meta-data and
 * network-config in one YAML document) with the user data's secrets replaced.
 */
export function redactSeedText(text: string, sensitive: boolean | readonly string[] = []): string {
  const doc = parseDocument(text, { version: '1.1' })
  const seed = doc.toJS() as Record<string, unknown> | null
  if (doc.errors.length > 0 || !seed || typeof seed['user-data'] !== 'string') return SENSITIVE
  const userData = redactUserData(seed['user-data'], sensitive)
  const meta = seed['meta-data'] as Record<string, unknown> | undefined
  // The instance-id is a hash of the whole seed, secrets included: one could try passwords
  // against it. With secrets in the user data, it is hidden too.
  const hideId = userData !== seed['user-data'] && meta && 'instance-id' in meta
  return toCloudYaml({
    ...seed,
    'user-data': userData,
    ...(hideId ? { 'meta-data': { ...meta, 'instance-id': SENSITIVE } } : {}),
  }).trimEnd()
}
