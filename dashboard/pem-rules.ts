// Seed 000's import rules that can be checked in the browser before an upload (the PEM structure of each file,
// an encrypted key's password, the bundle's name). The rest (chain order, key match, dates, SANs, ...) needs the
// certificates parsed: the server checks them and its refusal names the field and the rule.
export type BundleField = 'name' | 'namespace' | 'chain' | 'key' | 'ca' | 'key_password'
export interface RuleFailure { rule: string, detail?: string }

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

function labels (text: string): { labels: string[], stray: boolean } {
  const found = [...text.matchAll(BLOCK)]
  const stray = text.replace(BLOCK, '').trim() !== ''
  return { labels: found.map((m) => m[1]!), stray }
}

function certificates (text: string): RuleFailure | undefined {
  const { labels: found, stray } = labels(text)
  if (found.length === 0) return { rule: 'pem', detail: 'no_block' }
  if (stray) return { rule: 'pem', detail: 'stray' }
  if (found.some((l) => l.endsWith('PRIVATE KEY'))) return { rule: 'pem', detail: 'key_in_certs' }
  if (found.some((l) => l !== 'CERTIFICATE')) return { rule: 'pem', detail: 'not_cert' }
  return undefined
}

function key (text: string, password: string): { key?: RuleFailure, key_password?: RuleFailure } {
  const { labels: found, stray } = labels(text)
  const keys = found.filter((l) => l.endsWith('PRIVATE KEY'))
  if (found.length === 0) return { key: { rule: 'pem', detail: 'no_block' } }
  if (stray) return { key: { rule: 'pem', detail: 'stray' } }
  if (keys.length !== 1) return { key: { rule: 'pem', detail: keys.length === 0 ? 'no_key' : 'many_keys' } }
  if (keys[0] === 'EC PRIVATE KEY' || keys[0] === 'OPENSSH PRIVATE KEY') return { key: { rule: 'key_format' } }
  const encrypted = keys[0] === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(text)
  if (encrypted && password === '') return { key_password: { rule: 'key_password' } }
  return {}
}

/** The rules the form breaks, by field: empty when the upload may go to the server. */
export function checkUpload (form: { namespace: string, name: string, chain: string, key: string, ca: string, key_password: string }): Partial<Record<BundleField, RuleFailure>> {
  const out: Partial<Record<BundleField, RuleFailure>> = {}
  if (!NAME.test(form.name)) out.name = { rule: 'name' }
  if (form.namespace !== '' && !NAME.test(form.namespace)) out.namespace = { rule: 'name' }
  if (form.chain.trim() === '' && form.key.trim() === '' && form.ca.trim() === '') out.chain = { rule: 'pem', detail: 'nothing' }
  if (form.chain.trim() !== '') { const f = certificates(form.chain); if (f) out.chain = f }
  if (form.ca.trim() !== '') { const f = certificates(form.ca); if (f) out.ca = f }
  if (form.key.trim() !== '') Object.assign(out, key(form.key, form.key_password))
  return out
}
