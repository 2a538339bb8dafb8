// An HTTP backend (EMQX's HTTP connector): a keep-alive connection pool to one origin (undici Pool,
// pool_size connections, enable_pipelining requests in flight on each), https with client certificates,
// and EMQX's request templates: the URL path and query, the headers and the body take ${...}
// placeholders, encoded for where they land (a value never adds a query parameter or a JSON field).
import type { Pool } from 'undici'
import type { HttpConnectionConfig } from '../../config/schema/backends.js'
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'
import { BackendError, BackendHealth, describeNetworkError } from './health.js'
import { AUTHN_PLACEHOLDERS, compileDeep, compileTemplate, disallowedIn, render, renderDeep, urlEncode, type DeepTemplate, type Lookup, type Template } from './placeholders.js'
import { clientTlsOptions } from './tls.js'

/** The most of a response body read; a longer one fails the request. */
export const MAX_RESPONSE_BYTES = 1024 * 1024

export interface HttpRequestConfig {
  method: 'get' | 'post'
  url: string
  headers: Record<string, string>
  body?: Record<string, unknown> | undefined
}

export interface HttpRequest { method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string }
export interface HttpResponse { status: number, contentType: string, body: string }

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length', 'proxy-connection', 'te', 'trailer'])
const JSON_TYPE = 'application/json'
const FORM_TYPE = 'application/x-www-form-urlencoded'

/**
 * EMQX's request template (emqx_auth_utils:generate_request): the path rendered URL-encoded, each query
 * parameter and body field rendered and URL-encoded (GET: body fields join the query), a POST body as JSON
 * or as a form by the content-type header, headers rendered as they are.
 */
export class HttpRequestTemplate {
  readonly origin: string
  readonly method: 'GET' | 'POST'
  readonly #path: Template
  readonly #query: [Template, Template][]
  readonly #headers: [string, Template][]
  readonly #body: [Template, DeepTemplate][]
  readonly #bodyType: 'json' | 'form'
  /** Placeholders this backend leaves literal (disallowed): for a warning at start. */
  readonly disallowed: string[]

  /** `where` names the config in errors; `allowed`: the placeholders this kind of request may use. */
  constructor (config: HttpRequestConfig, where: string, allowed: readonly string[] = AUTHN_PLACEHOLDERS) {
    let url: URL
    try {
      url = new URL(config.url)
    } catch {
      throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}.url: not a URL: ${JSON.stringify(config.url)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}.url: expected http:// or https://, got ${url.protocol}`)
    if (url.username || url.password) throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}.url: user info in the URL is not supported (send it in headers)`)
    if (url.hash) throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}.url: a #fragment is not supported`)
    this.origin = url.origin
    this.method = config.method === 'get' ? 'GET' : 'POST'
    // The raw text of path and query, as written: URL() would percent-encode the ${...} of a placeholder.
    const rest = config.url.slice(config.url.indexOf('//') + 2)
    const slash = rest.search(/[/?]/)
    const pathAndQuery = slash < 0 ? '' : rest.slice(slash)
    const q = pathAndQuery.indexOf('?')
    this.#path = compileTemplate((q < 0 ? pathAndQuery : pathAndQuery.slice(0, q)) || '/', allowed)
    this.#query = q < 0 ? [] : parseQuery(pathAndQuery.slice(q + 1)).map(([k, v]) => [compileTemplate(k, allowed), compileTemplate(v, allowed)])
    // Header names as EMQX keeps them: lower case; a GET sends no content-type.
    // The pool manages the connection: EMQX's default connection and keep-alive headers are its business.
    const headers = Object.entries(config.headers).map(([k, v]): [string, string] => [k.trim().toLowerCase(), String(v)])
      .filter(([k]) => !HOP_BY_HOP.has(k) && !(this.method === 'GET' && k === 'content-type'))
    if (this.method === 'POST' && !headers.some(([k]) => k === 'content-type')) headers.push(['content-type', JSON_TYPE])
    this.#headers = headers.map(([k, v]) => [k, compileTemplate(v, allowed)])
    const contentType = headers.find(([k]) => k === 'content-type')?.[1].split(';')[0]!.trim().toLowerCase()
    if (this.method === 'POST' && contentType !== JSON_TYPE && contentType !== FORM_TYPE) {
      throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}.headers: content-type ${JSON.stringify(contentType)} is neither ${JSON_TYPE} nor ${FORM_TYPE}`)
    }
    this.#bodyType = contentType === FORM_TYPE ? 'form' : 'json'
    this.#body = Object.entries(config.body ?? {}).map(([k, v]) => [compileTemplate(k, allowed), compileDeep(v, allowed)])
    this.disallowed = [...new Set([
      ...this.#path.disallowed, ...this.#query.flatMap(([k, v]) => [...k.disallowed, ...v.disallowed]),
      ...this.#headers.flatMap(([, v]) => v.disallowed), ...this.#body.flatMap(([k, v]) => [...k.disallowed, ...disallowedIn(v)]),
    ])]
  }

  /** The request for one client. */
  build (lookup: Lookup): HttpRequest {
    const path = render(this.#path, lookup, urlEncodePath)
    const query: [string, string][] = this.#query.map(([k, v]) => [render(k, lookup), render(v, lookup)])
    const headers: Record<string, string> = {}
    for (const [name, value] of this.#headers) {
      const text = render(value, lookup)
      // A placeholder's value cannot end the header and start another (undici would refuse it anyway).
      if (/[\r\n\0]/.test(text)) throw new CulexError('CULEX_ERR_BACKEND', `header ${name} would hold a line break or NUL from a placeholder`)
      headers[name] = text
    }
    if (this.method === 'GET') {
      for (const [k, v] of this.#body) query.push([render(k, lookup), formValue(renderDeep(v, lookup))])
      return { method: 'GET', path: withQuery(path, query), headers }
    }
    let body: string
    if (this.#bodyType === 'json') {
      const fields: Record<string, unknown> = {}
      for (const [k, v] of this.#body) Object.defineProperty(fields, render(k, lookup), { value: renderDeep(v, lookup), enumerable: true, writable: true, configurable: true })
      body = JSON.stringify(fields)
    } else {
      body = composeQuery(this.#body.map(([k, v]) => [render(k, lookup), formValue(renderDeep(v, lookup))]))
    }
    return { method: 'POST', path: withQuery(path, query), headers, body }
  }
}

/** A path keeps its slashes; a value placed in it is encoded whole (its own slashes too). */
const urlEncodePath = (value: string): string => urlEncode(value)

function formValue (value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function composeQuery (pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${urlEncode(k)}=${urlEncode(v)}`).join('&')
}

function withQuery (path: string, query: [string, string][]): string {
  return query.length === 0 ? path : `${path}?${composeQuery(query)}`
}

/** The query string of the configured URL, decoded into pairs (templates are matched on the decoded text). */
function parseQuery (text: string): [string, string][] {
  return text.split('&').filter(Boolean).map((pair) => {
    const eq = pair.indexOf('=')
    const decode = (s: string) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')) } catch { return s } }
    return eq < 0 ? [decode(pair), ''] : [decode(pair.slice(0, eq)), decode(pair.slice(eq + 1))]
  })
}

export interface HttpBackendOptions extends HttpConnectionConfig {
  /** The origin, `https://auth.example:8443`. */
  origin: string
}

/** A keep-alive pool to one HTTP(S) origin. */
export class HttpBackend {
  readonly origin: string
  readonly health: BackendHealth
  /** Loaded with the first HTTP backend: a broker without one does not pay for undici at start. */
  readonly #pool: Promise<Pool>
  readonly #timeout: number

  /** `where` names the config in errors and log lines. */
  constructor (options: HttpBackendOptions, log: Log, where: string) {
    const url = new URL(options.origin)
    this.origin = url.origin
    this.#timeout = options.request_timeout
    this.health = new BackendHealth(log, { backend: where, server: this.origin })
    const secure = url.protocol === 'https:'
    // EMQX's schema refuses https:// with ssl.enable = false; here it would be TLS without checks.
    const tls = secure && options.ssl.enable ? clientTlsOptions(options.ssl, url.hostname.replace(/^\[|\]$/g, ''), `${where}.ssl`) : {}
    if (secure && !options.ssl.enable) tls.rejectUnauthorized = false
    this.#pool = import('undici').then(({ Pool }) => {
      const pool = new Pool(this.origin, {
        connections: options.pool_size,
        pipelining: options.enable_pipelining,
        connect: { timeout: options.connect_timeout, ...tls },
        headersTimeout: options.request_timeout,
        bodyTimeout: options.request_timeout,
      })
      // A pool with no request never opens a connection: nothing happens until the first client.
      pool.on('connectionError', () => { /* each request reports its own failure */ })
      return pool
    })
  }

  /**
   * Sends one request; throws BackendError (with a reason a person can act on, logged once per cause) when
   * there is no HTTP answer. The caller tells `health` whether an answer was good.
   */
  async request (req: HttpRequest): Promise<HttpResponse> {
    const where = `${this.origin}${req.path.split('?')[0]}`
    let res
    try {
      res = await (await this.#pool).request({
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body ?? null,
        signal: AbortSignal.timeout(this.#timeout),
      })
    } catch (err) {
      throw this.#failure(err, where)
    }
    let body: string
    try {
      body = await readBounded(res.body, where)
    } catch (err) {
      throw this.#failure(err, where)
    }
    // Whether the answer is a good one is the caller's to say (health.ok() or health.failed()): a 500 is an answer too.
    const type = res.headers['content-type']
    return { status: res.statusCode, contentType: (Array.isArray(type) ? type[0] : type) ?? '', body }
  }

  async close (): Promise<void> {
    await (await this.#pool).destroy().catch(() => {})
  }

  #failure (err: unknown, where: string): BackendError {
    if (err instanceof BackendError) {
      this.health.failed(err.message)
      return err
    }
    const e = err as { name?: string, code?: string }
    const reason = e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT'
      ? `no answer from ${where} within request_timeout (${this.#timeout} ms)`
      : describeNetworkError(err, where)
    this.health.failed(reason)
    return new BackendError(reason, { cause: err })
  }
}

async function readBounded (body: AsyncIterable<Buffer> & { destroy (err?: Error): unknown }, where: string): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy()
      throw new BackendError(`the answer of ${where} is larger than ${MAX_RESPONSE_BYTES} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
