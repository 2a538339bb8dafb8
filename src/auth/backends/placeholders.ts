// EMQX's ${...} placeholders in backend requests: compiled once from the config text, rendered per
// request from what the client is. A value never becomes syntax: in a URL or a form it is
// percent-encoded, in a JSON body it is a JSON string, in SQL a bound parameter ($n) and in a Redis
// command one argument of its own. A placeholder a backend does not allow stays literal text (as EMQX
// renders a disallowed one), and an unknown or absent value renders as the empty string.
import type { ClientInfo } from '../../mqtt/hooks.js'

export type TemplatePart = string | { name: string }

/** A compiled template: literal text and placeholders, in order. */
export interface Template {
  readonly parts: readonly TemplatePart[]
  /** The placeholders left literal because this backend does not allow them (for a warning at start). */
  readonly disallowed: readonly string[]
}

/** The client placeholders of authentication (EMQX's AUTHN_DEFAULT_ALLOWED_VARS, plus peerport). */
export const AUTHN_PLACEHOLDERS = ['clientid', 'username', 'password', 'peerhost', 'peerport', 'cert_subject', 'cert_common_name', 'cert_pem', 'zone', 'client_attrs.*'] as const

/** Authorization adds what is being authorized. */
export const AUTHZ_PLACEHOLDERS = ['clientid', 'username', 'peerhost', 'peerport', 'cert_subject', 'cert_common_name', 'cert_pem', 'zone', 'client_attrs.*', 'action', 'topic', 'qos', 'retain'] as const

const PLACEHOLDER = /\$\{([^{}]*)\}/g

function isAllowed (name: string, allowed: readonly string[]): boolean {
  for (const a of allowed) {
    if (a === name) return true
    if (a.endsWith('.*') && name.startsWith(a.slice(0, -1)) && name.length > a.length - 1) return true
  }
  return false
}

export function compileTemplate (text: string, allowed: readonly string[] = AUTHN_PLACEHOLDERS): Template {
  const parts: TemplatePart[] = []
  const disallowed: string[] = []
  let at = 0
  for (const m of text.matchAll(PLACEHOLDER)) {
    const name = m[1]!.trim()
    // ${$} is EMQX's escape for a literal $.
    if (name === '$') {
      parts.push(text.slice(at, m.index) + '$')
    } else if (isAllowed(name, allowed)) {
      if (m.index > at) parts.push(text.slice(at, m.index))
      parts.push({ name })
    } else {
      disallowed.push(name)
      parts.push(text.slice(at, m.index + m[0].length))
    }
    at = m.index + m[0].length
  }
  if (at < text.length) parts.push(text.slice(at))
  return { parts: mergeLiterals(parts), disallowed }
}

function mergeLiterals (parts: TemplatePart[]): TemplatePart[] {
  const out: TemplatePart[] = []
  for (const p of parts) {
    const last = out.at(-1)
    if (typeof p === 'string' && typeof last === 'string') out[out.length - 1] = last + p
    else out.push(p)
  }
  return out
}

/** Whether a template holds placeholders at all (a constant renders to its text). */
export const isConstant = (t: Template): boolean => t.parts.every((p) => typeof p === 'string')

/** Looks a placeholder's value up; undefined when the client has none. */
export type Lookup = (name: string) => string | undefined

/** Renders a template; `encode` is applied to each value, never to the literal text. */
export function render (t: Template, lookup: Lookup, encode: (value: string) => string = (v) => v): string {
  let out = ''
  for (const p of t.parts) out += typeof p === 'string' ? p : encode(lookup(p.name) ?? '')
  return out
}

/** The placeholders' values, one by one: each template of a request is rendered separately. */
export function renderEach (templates: readonly Template[], lookup: Lookup): string[] {
  return templates.map((t) => render(t, lookup))
}

/**
 * Percent-encodes as a query component, as EMQX's uri_string:compose_query: everything but the unreserved
 * characters (RFC 3986), so a value can never add a parameter, a path segment or a fragment.
 */
export function urlEncode (value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** What placeholders may be taken from, beyond a ClientInfo: the CONNECT password and authorization's request. */
export interface PlaceholderExtras {
  password?: Buffer | string | undefined
  action?: string
  topic?: string
  qos?: number
  retain?: boolean
}

/** A Lookup over a client (ClientInfo or anything shaped like it) and the extras. */
export function clientLookup (client: Pick<ClientInfo, 'clientId' | 'username' | 'remoteAddress' | 'remotePort' | 'cert' | 'attrs'>, extras: PlaceholderExtras = {}): Lookup {
  return (name) => {
    switch (name) {
      case 'clientid': return client.clientId
      case 'username': return client.username
      case 'password': return extras.password === undefined ? undefined : extras.password.toString()
      case 'peerhost': return client.remoteAddress
      case 'peerport': return String(client.remotePort)
      case 'cert_subject': return client.cert?.subject || undefined
      case 'cert_common_name': return client.cert?.cn || undefined
      // EMQX renders the certificate's DER, base64-encoded.
      case 'cert_pem': return client.cert ? client.cert.der.toString('base64') : undefined
      case 'zone': return 'default'
      case 'action': return extras.action
      case 'topic': return extras.topic
      case 'qos': return extras.qos === undefined ? undefined : String(extras.qos)
      case 'retain': return extras.retain === undefined ? undefined : String(extras.retain)
      default:
        if (name.startsWith('client_attrs.')) {
          const attr = name.slice('client_attrs.'.length)
          return Object.hasOwn(client.attrs, attr) ? client.attrs[attr] : undefined
        }
        return undefined
    }
  }
}

/** A deep template: a JSON-like value whose strings (keys too) are templates. */
export type DeepTemplate = Template | { [key: string]: DeepTemplateEntry } | DeepTemplate[] | number | boolean | null
type DeepTemplateEntry = { key: Template, value: DeepTemplate }

export function compileDeep (value: unknown, allowed: readonly string[] = AUTHN_PLACEHOLDERS): DeepTemplate {
  if (typeof value === 'string') return compileTemplate(value, allowed)
  if (Array.isArray(value)) return value.map((v) => compileDeep(v, allowed))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, DeepTemplateEntry> = {}
    for (const [k, v] of Object.entries(value)) out[k] = { key: compileTemplate(k, allowed), value: compileDeep(v, allowed) }
    return out
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value
  return null
}

function isTemplate (t: DeepTemplate): t is Template {
  return t !== null && typeof t === 'object' && !Array.isArray(t) && 'parts' in t && Array.isArray((t as Template).parts)
}

/** Renders a deep template to plain data (values unencoded: JSON.stringify encodes them as JSON strings). */
export function renderDeep (t: DeepTemplate, lookup: Lookup): unknown {
  if (t === null || typeof t !== 'object') return t
  if (Array.isArray(t)) return t.map((v) => renderDeep(v, lookup))
  if (isTemplate(t)) return render(t, lookup)
  const out: Record<string, unknown> = {}
  for (const { key, value } of Object.values(t)) {
    const k = render(key, lookup)
    // A rendered key is only ever a data key, never __proto__ of the object built here.
    Object.defineProperty(out, k, { value: renderDeep(value, lookup), enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** Every placeholder left literal in a deep template. */
export function disallowedIn (t: DeepTemplate): string[] {
  if (t === null || typeof t !== 'object') return []
  if (Array.isArray(t)) return t.flatMap(disallowedIn)
  if (isTemplate(t)) return [...t.disallowed]
  return Object.values(t).flatMap(({ key, value }) => [...key.disallowed, ...disallowedIn(value)])
}
