// The form that creates or edits one authenticator: the fields of each mechanism (JWT as the console's
// JWT settings; password_based with the built-in database, HTTP, Redis or PostgreSQL; SCRAM; client
// certificates). Editing sends the authenticator's whole configuration back with the form's fields over
// it, so settings the form does not show (TLS, pools, headers) are kept, and "******" keeps a secret.
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { api, seg } from '../api'
import { t, type Key } from '../i18n'
import { Input, Select } from '../components/field'
import { Checkbox, TextArea } from '../components/form-extra'
import { Section } from '../components/page'
import { attempt } from '../components/action'

export type Config = Record<string, unknown> & { id: string, mechanism: string, backend?: string, enable?: boolean }

export const KINDS = ['jwt', 'password_based:built_in_database', 'password_based:http', 'password_based:redis', 'password_based:postgresql', 'scram:built_in_database', 'cert'] as const
type Kind = typeof KINDS[number]

type Form = Record<string, string | boolean>

const HASHES = ['plain', 'md5', 'sha', 'sha256', 'sha512', 'bcrypt', 'pbkdf2']

const DEFAULTS: Form = {
  from: 'password', use_jwks: false, algorithm: 'hmac-based', secret: '', secret_base64_encoded: false, public_key: '',
  endpoint: '', refresh_interval: '300', verify_claims: '', acl_claim_name: 'acl', disconnect_after_expire: true,
  user_id_type: 'username', hash: 'sha256', salt_position: 'prefix', salt_rounds: '10', mac_fun: 'sha256', iterations: '4096',
  method: 'post', url: '', body: '{"username": "${username}", "password": "${password}"}',
  server: '', database: '', username: '', password: '', cmd: 'HMGET mqtt_user:${username} password_hash salt is_superuser',
  query: 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} LIMIT 1',
  scram_algorithm: 'sha256', iteration_count: '4096',
}

export function kindOf (c: Config): Kind {
  if (c.mechanism === 'jwt' || c.mechanism === 'cert') return c.mechanism
  return `${c.mechanism}:${c.backend ?? 'built_in_database'}` as Kind
}

/** The form's fields from an authenticator's configuration (an edit), or the defaults (a new one). */
function formOf (c: Config | null): Form {
  if (!c) return { ...DEFAULTS }
  const f: Form = { ...DEFAULTS }
  for (const [k, v] of Object.entries(c)) if (k in f && (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number')) f[k] = typeof v === 'number' ? String(v) : v
  if (c.mechanism === 'jwt' && c.verify_claims && typeof c.verify_claims === 'object') {
    f.verify_claims = Object.entries(c.verify_claims as Record<string, string>).map(([k, v]) => `${k} = ${v}`).join('\n')
  }
  if (c.mechanism === 'scram') { f.scram_algorithm = String(c.algorithm ?? 'sha256'); f.algorithm = 'hmac-based' }
  const hash = c.password_hash_algorithm as Record<string, unknown> | undefined
  if (hash) for (const [k, v] of Object.entries({ hash: hash.name, salt_position: hash.salt_position, salt_rounds: hash.salt_rounds, mac_fun: hash.mac_fun, iterations: hash.iterations })) if (v !== undefined) f[k] = String(v)
  if (c.body && typeof c.body === 'object') f.body = JSON.stringify(c.body)
  return f
}

function hashOf (f: Form): Record<string, unknown> {
  const name = String(f.hash)
  if (name === 'bcrypt') return { name, salt_rounds: Number(f.salt_rounds) }
  if (name === 'pbkdf2') return { name, mac_fun: f.mac_fun, iterations: Number(f.iterations) }
  return { name, salt_position: f.salt_position }
}

/** "name = value" lines: the claims a token must carry. */
function claimsOf (text: string): Record<string, string> {
  const claims: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const at = line.indexOf('=')
    if (line.trim() === '') continue
    if (at <= 0) throw new Error(t('authn.claims_bad', { line: line.trim() }))
    claims[line.slice(0, at).trim()] = line.slice(at + 1).trim()
  }
  return claims
}

/** The body of a POST or PUT: the mechanism's fields from the form. */
function bodyOf (kind: Kind, f: Form): Record<string, unknown> {
  const str = (k: string) => String(f[k])
  const optional = (k: string) => (str(k) === '' ? {} : { [k]: str(k) })
  switch (kind) {
    case 'jwt': return {
      mechanism: 'jwt', from: f.from, use_jwks: f.use_jwks, algorithm: f.algorithm, secret: f.secret, secret_base64_encoded: f.secret_base64_encoded,
      public_key: f.public_key, endpoint: f.endpoint, refresh_interval: Number(f.refresh_interval), verify_claims: claimsOf(str('verify_claims')),
      acl_claim_name: f.acl_claim_name, disconnect_after_expire: f.disconnect_after_expire,
    }
    case 'password_based:built_in_database': return { mechanism: 'password_based', backend: 'built_in_database', user_id_type: f.user_id_type, password_hash_algorithm: hashOf(f) }
    case 'password_based:http': {
      let body: unknown
      try { body = str('body').trim() === '' ? undefined : JSON.parse(str('body')) } catch { throw new Error(t('authn.body_bad')) }
      return { mechanism: 'password_based', backend: 'http', method: f.method, url: f.url, ...(body === undefined ? {} : { body }) }
    }
    case 'password_based:redis': return { mechanism: 'password_based', backend: 'redis', redis_type: 'single', server: f.server, ...(str('database') === '' ? {} : { database: Number(f.database) }), ...optional('password'), cmd: f.cmd, password_hash_algorithm: hashOf(f) }
    case 'password_based:postgresql': return { mechanism: 'password_based', backend: 'postgresql', server: f.server, database: f.database, username: f.username, ...optional('password'), query: f.query, password_hash_algorithm: hashOf(f) }
    case 'scram:built_in_database': return { mechanism: 'scram', backend: 'built_in_database', algorithm: f.scram_algorithm, iteration_count: Number(f.iteration_count) }
    case 'cert': return { mechanism: 'cert' }
  }
}

const options = (values: readonly string[]) => values.map((v) => ({ value: v, label: v }))

/** Creates (editing = null) or replaces an authenticator of the chain at `base`; onDone after a success. */
export function AuthnForm ({ base, editing, onDone, onCancel }: { base: string, editing: Config | null, onDone: () => void, onCancel: () => void }) {
  const [kind, setKind] = useState<Kind>(editing ? kindOf(editing) : 'jwt')
  const [f, setF] = useState<Form>(() => formOf(editing))
  const [error, setError] = useState<string | undefined>(undefined)
  const text = (name: string, label: Key, type = 'text') => html`<${Input} label=${label} name=${name} type=${type} value=${String(f[name])} onValue=${(v: string) => setF({ ...f, [name]: v })} />`
  const check = (name: string, label: Key) => html`<${Checkbox} label=${label} name=${name} checked=${f[name] === true} onChecked=${(v: boolean) => setF({ ...f, [name]: v })} />`
  const choice = (name: string, label: Key, values: readonly string[]) => html`<${Select} label=${label} name=${name} value=${String(f[name])} onValue=${(v: string) => setF({ ...f, [name]: v })} options=${options(values)} />`
  const area = (name: string, label: Key, hint?: string) => html`<${TextArea} label=${label} name=${name} rows=${3} hint=${hint} value=${String(f[name])} onValue=${(v: string) => setF({ ...f, [name]: v })} />`
  const hash = html`
    ${choice('hash', 'authn.hash', HASHES)}
    ${f.hash === 'bcrypt' ? text('salt_rounds', 'authn.salt_rounds', 'number') : f.hash === 'pbkdf2' ? html`${choice('mac_fun', 'authn.mac_fun', ['md5', 'ripemd160', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'])}${text('iterations', 'authn.iterations', 'number')}` : choice('salt_position', 'authn.salt_position', ['prefix', 'suffix', 'disable'])}`
  const fields = () => {
    switch (kind) {
      case 'jwt': return html`
        ${choice('from', 'authn.from', ['password', 'username'])}
        ${check('use_jwks', 'authn.use_jwks')}
        ${f.use_jwks === true
          ? html`${text('endpoint', 'authn.endpoint', 'url')}${text('refresh_interval', 'authn.refresh_interval', 'number')}`
          : html`${choice('algorithm', 'authn.algorithm', ['hmac-based', 'public-key'])}
            ${f.algorithm === 'hmac-based' ? html`${text('secret', 'authn.secret', 'password')}${check('secret_base64_encoded', 'authn.secret_base64_encoded')}` : area('public_key', 'authn.public_key')}`}
        ${area('verify_claims', 'authn.verify_claims', t('authn.verify_claims_hint'))}
        ${text('acl_claim_name', 'authn.acl_claim_name')}
        ${check('disconnect_after_expire', 'authn.disconnect_after_expire')}`
      case 'password_based:built_in_database': return html`${choice('user_id_type', 'authn.user_id_type', ['username', 'clientid'])}${hash}`
      case 'password_based:http': return html`${choice('method', 'authn.method', ['post', 'get'])}${text('url', 'authn.url', 'url')}${area('body', 'authn.body')}`
      case 'password_based:redis': return html`${text('server', 'authn.server')}${text('database', 'authn.database', 'number')}${text('password', 'authn.backend_password', 'password')}${text('cmd', 'authn.cmd')}${hash}`
      case 'password_based:postgresql': return html`${text('server', 'authn.server')}${text('database', 'authn.database')}${text('username', 'authn.backend_username')}${text('password', 'authn.backend_password', 'password')}${area('query', 'authn.query')}${hash}`
      case 'scram:built_in_database': return html`${choice('scram_algorithm', 'authn.scram_algorithm', ['sha256', 'sha512'])}${text('iteration_count', 'authn.iteration_count', 'number')}`
      case 'cert': return html`<p class="note">${t('authn.cert_note')}</p>`
    }
  }
  const submit = async (e: Event) => {
    e.preventDefault()
    let body: Record<string, unknown>
    try { body = bodyOf(kind, f) } catch (err) { setError((err as Error).message); return }
    setError(undefined)
    const ok = editing
      ? await attempt(t('authn.saved', { id: editing.id }), () => api(`${base}/${seg(editing.id)}`, { method: 'PUT', body: { ...editing, ...body } }))
      : await attempt(t('authn.created', { id: kind }), () => api(base, { method: 'POST', body }))
    if (ok) onDone()
  }
  return html`
    <${Section} title=${editing ? t('authn.edit_title', { id: editing.id }) : t('authn.add')}>
      <form class="filters" onSubmit=${submit} aria-label=${editing ? t('authn.edit_title', { id: editing.id }) : t('authn.add')}>
        ${editing ? null : html`<${Select} label="authn.mechanism" name="kind" value=${kind} onValue=${(v: string) => setKind(v as Kind)} options=${options(KINDS)} />`}
        ${fields()}
        ${error ? html`<p class="field-error wide" role="alert">${error}</p>` : null}
        <div class="filter-actions">
          <button type="submit" class="primary">${editing ? t('authn.save') : t('authn.create')}</button>
          <button type="button" onClick=${onCancel}>${t('action.cancel')}</button>
        </div>
      </form>
    </${Section}>`
}
