// `mechanism = password_based, backend = http` (EMQX's emqx_authn_http): the client's credentials are
// sent to an HTTP service with EMQX's request shape, and its answer decides. Outcomes, as EMQX 5.8:
// 200 with {"result": "allow"} → ok (is_superuser, client_attrs, acl and expire_at taken from the body);
// {"result": "deny"} → deny 0x87; "ignore", another result, another status, a body that is not JSON or
// a form, a timeout or an unreachable service → ignore (the next authenticator decides), logged once per
// cause; 204 → ok. A malformed acl or expire_at → deny 0x86, as EMQX.
import type { HttpAuthenticatorConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { AuthResult, ClientInfo, Credentials } from '../mqtt/hooks.js'
import { RC } from '../mqtt/reason-codes.js'
import { HttpBackend, HttpRequestTemplate, type HttpResponse } from './backends/http.js'
import { clientLookup } from './backends/placeholders.js'
import { convertAcl } from './jwt.js'
import { toBool } from './selected.js'
import type { Authenticator } from './types.js'

export const HTTP_AUTHENTICATOR_ID = 'password_based:http'

/** EMQX's restricted string for attribute names. */
const ATTR_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/
/** Bounds what one answer may attach to a client. */
const MAX_ATTRS = 64
const MAX_ATTR_VALUE = 1024

type Body = Record<string, unknown>

export class HttpAuthenticator implements Authenticator {
  readonly id = HTTP_AUTHENTICATOR_ID
  readonly #template: HttpRequestTemplate
  readonly #backend: HttpBackend
  readonly #url: string

  constructor (config: HttpAuthenticatorConfig, log: Log, where = HTTP_AUTHENTICATOR_ID) {
    this.#template = new HttpRequestTemplate(config, where)
    this.#backend = new HttpBackend({ ...config, origin: this.#template.origin }, log, where)
    this.#url = config.url.split('?')[0]!
    if (this.#template.disallowed.length > 0) {
      log.warning({ authenticator: this.id, placeholders: this.#template.disallowed }, `${where}: placeholders not available to authentication are sent as written: ${this.#template.disallowed.map((p) => `\${${p}}`).join(', ')}`)
    }
  }

  async authenticate (client: ClientInfo, credentials: Credentials): Promise<AuthResult> {
    let response: HttpResponse
    try {
      const request = this.#template.build(clientLookup(client, { password: credentials.password }))
      response = await this.#backend.request(request)
    } catch (err) {
      return { result: 'ignore', reason: (err as Error).message, failed: true }
    }
    if (response.status === 204) {
      this.#backend.health.ok()
      return { result: 'ok', isSuperuser: false }
    }
    if (response.status !== 200) return this.#misbehaved(`${this.#url} answered HTTP ${response.status}`)
    const body = parseBody(response)
    if (typeof body === 'string') return this.#misbehaved(`${this.#url} answered 200 with ${body}`)
    this.#backend.health.ok()
    switch (body.result) {
      case 'allow': return allowed(body)
      case 'deny': return { result: 'deny', reasonCode: RC.NOT_AUTHORIZED, reason: 'not authorized', detail: `${this.#url} answered deny` }
      default: return { result: 'ignore', reason: `${this.#url} answered ${body.result === undefined || body.result === 'ignore' ? 'ignore' : `an unknown result ${JSON.stringify(body.result).slice(0, 40)}`}` }
    }
  }

  get failing (): boolean {
    return this.#backend.health.failing
  }

  close (): Promise<void> {
    return this.#backend.close()
  }

  /** An answer EMQX passes over: the client is ignored, and the operator told once per cause. */
  #misbehaved (reason: string): AuthResult {
    this.#backend.health.failed(reason)
    return { result: 'ignore', reason, failed: true }
  }
}

function parseBody (response: HttpResponse): Body | string {
  const type = response.contentType.split(';')[0]!.trim().toLowerCase()
  if (type === 'application/json') {
    try {
      const parsed = JSON.parse(response.body) as unknown
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed as Body : 'a JSON body that is not an object'
    } catch {
      return 'a body that is not valid JSON'
    }
  }
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(response.body))
  return `content-type ${JSON.stringify(type)} (expected application/json or application/x-www-form-urlencoded)`
}

function allowed (body: Body): AuthResult {
  const answer: AuthResult = { result: 'ok', isSuperuser: toBool(body.is_superuser) }
  const attrs = clientAttrs(body.client_attrs)
  if (attrs) answer.attrs = attrs
  let expireAt: number | undefined
  if (body.expire_at !== undefined) {
    const now = Math.floor(Date.now() / 1000)
    const at = body.expire_at
    if (typeof at !== 'number' || !Number.isInteger(at)) return malformed('expire_at is not an integer (Unix time in seconds)')
    if (at < now) return malformed('expire_at is in the past')
    if (at > now * 1000 / 2) return malformed('expire_at does not look like Unix time in seconds')
    expireAt = at * 1000
    answer.expireAt = expireAt
  }
  if (body.acl !== undefined) {
    const acl = convertAcl(body.acl)
    if (!acl) return malformed('the acl is malformed')
    answer.acl = acl
    if (expireAt !== undefined) answer.aclExpireAt = expireAt
  }
  return answer
}

function malformed (why: string): AuthResult {
  return { result: 'deny', reasonCode: RC.BAD_USER_NAME_OR_PASSWORD, reason: 'bad username or password', detail: `the HTTP service allowed the client, but ${why}` }
}

/** String attributes with EMQX's restricted names; others are dropped. */
function clientAttrs (value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const attrs: Record<string, string> = {}
  let n = 0
  for (const [k, v] of Object.entries(value)) {
    if (!ATTR_NAME.test(k) || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) continue
    if (++n > MAX_ATTRS) break
    attrs[k] = String(v).slice(0, MAX_ATTR_VALUE)
  }
  return attrs
}
