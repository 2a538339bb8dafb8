// Secrets in API answers are shown as "******", as EMQX's emqx_utils_redact does for every role: fields
// named like a credential, and the credential-bearing HTTP headers. A viewer key sees less still: every
// header value and every field whose name suggests a credential. "******" sent back in a PUT keeps the value.
import type { Role } from './auth.js'

export const MASK = '******'

/** EMQX's is_sensitive_key list (the names Culex can meet), plus key_password. */
const SENSITIVE_KEYS = new Set([
  'access_key_id', 'access_key_secret', 'access_token', 'account_key', 'api_key', 'api_secret', 'aws_secret_access_key',
  'bind_password', 'id_token', 'jwk', 'jwt', 'key_password', 'passcode', 'passwd', 'password', 'private_key',
  'private_key_password', 'refresh_token', 'secret', 'secret_access_key', 'secret_key', 'security_token',
  'sentinel_password', 'token',
])
/** EMQX's is_sensitive_header list. */
const SENSITIVE_HEADERS = new Set(['authorization', 'api-key', 'cookie', 'proxy-authorization', 'x-api-key', 'x-auth-token'])
/** For viewers: a text field whose name suggests a credential. */
const CREDENTIAL_LIKE = /secret|passw|token|credential|private|api.?key|cookie/i

/** Whether this field's value is hidden: a known secret name, or for viewers a text field named like one. */
function hidden (key: string, value: unknown, role: Role): boolean {
  if (!present(value)) return false
  if (SENSITIVE_KEYS.has(key)) return true
  return role !== 'administrator' && typeof value === 'string' && CREDENTIAL_LIKE.test(key)
}
const isSensitiveHeader = (name: string, role: Role) => role !== 'administrator' || SENSITIVE_HEADERS.has(name.trim().toLowerCase())

/** A copy of `value` with its secrets replaced by "******", at any depth. */
export function maskSecrets (value: unknown, role: Role): unknown {
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, role))
  if (!isObject(value)) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => {
    if (k === 'headers' && isObject(v)) return [k, maskHeaders(v, role)]
    return [k, hidden(k, v, role) ? MASK : maskSecrets(v, role)]
  }))
}

function maskHeaders (headers: Record<string, unknown>, role: Role): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).map(([name, v]) => [name, isSensitiveHeader(name, role) && present(v) ? MASK : v]))
}

/** "******" in a PUT body where the answer masked a value means "unchanged": take the current value there. */
export function unmaskSecrets (given: unknown, current: unknown): unknown {
  if (!isObject(given) || !isObject(current)) return given
  return Object.fromEntries(Object.entries(given).map(([k, v]) => {
    const old = current[k]
    if (k === 'headers' && isObject(v) && isObject(old)) return [k, unmaskHeaders(v, old)]
    return [k, v === MASK && SENSITIVE_KEYS.has(k) && old !== undefined ? old : unmaskSecrets(v, old)]
  }))
}

function unmaskHeaders (given: Record<string, unknown>, current: Record<string, unknown>): Record<string, unknown> {
  const oldByName = new Map(Object.entries(current).map(([name, v]) => [name.trim().toLowerCase(), v]))
  return Object.fromEntries(Object.entries(given).map(([name, v]) => {
    const old = oldByName.get(name.trim().toLowerCase())
    return [name, v === MASK && isSensitiveHeader(name, 'administrator') && old !== undefined ? old : v]
  }))
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** A value worth hiding: not a flag, an empty string, null or undefined (an unset secret shows as unset). */
function present (value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && typeof value !== 'boolean'
}
