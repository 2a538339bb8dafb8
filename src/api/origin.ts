// Requests a web page could make the operator's browser send: cross-origin state changes (CSRF: a form
// needs no CORS preflight) are always refused, and without API keys only a Host naming the loopback
// interface is served (DNS rebinding: attacker.example resolving to 127.0.0.1 sends Host attacker.example).
import type { IncomingHttpHeaders } from 'node:http'
import { CulexError } from '../errors.js'
import { READ_METHODS } from './common.js'

/** The content types an HTML form (or a no-cors fetch) can send without a preflight. */
const FORM_TYPES = /^\s*(multipart\/form-data|application\/x-www-form-urlencoded|text\/plain)\b/i
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

export interface OriginRequest { method: string, headers: IncomingHttpHeaders }

/**
 * Throws a 403 CulexError (CULEX_ERR_API_ORIGIN) saying why, when the request is not one the API should serve.
 * `cors` (dashboard.cors, with API keys): a cross-origin change is served when the browser had to ask first
 * (a preflight: PUT, DELETE, or a POST of JSON), as then the page, not the browser, sends the credentials.
 */
export function checkRequestOrigin (request: OriginRequest, keyless: boolean, cors = false): void {
  const host = request.headers.host?.toLowerCase()
  if (keyless) checkLoopbackHost(host)
  if (READ_METHODS.has(request.method)) return
  if (cors && !keyless && preflighted(request)) return
  const site = header(request.headers['sec-fetch-site'])
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw refused(`cross-origin request refused: the browser marks it Sec-Fetch-Site: ${site}; the management API accepts changes only from its own origin or from non-browser clients`)
  }
  const origin = header(request.headers.origin)
  if (origin !== undefined) {
    if (originHost(origin) !== host) throw refused(`cross-origin request refused: Origin ${origin} does not match Host ${host ?? '(none)'}`)
    return
  }
  const type = header(request.headers['content-type']) ?? ''
  if (FORM_TYPES.test(type) && request.headers.authorization === undefined) {
    throw refused(`a ${type.split(';')[0]!.trim()} request without an Origin header is refused (a web page could send it): send an Origin header naming this host (curl -H 'Origin: http://${host ?? '127.0.0.1:18083'}'), basic auth, or JSON`)
  }
}

/** Whether a browser sends this cross-origin only after a CORS preflight (not a form or a simple fetch). */
function preflighted (request: OriginRequest): boolean {
  if (request.method !== 'POST') return true
  const type = header(request.headers['content-type'])
  return type !== undefined && type.trim() !== '' && !FORM_TYPES.test(type)
}

/** Without API keys: only localhost, 127.0.0.1 or [::1], with any port (a port forward keeps the name). */
function checkLoopbackHost (host: string | undefined): void {
  const name = host === undefined ? undefined : hostName(host)
  if (name !== undefined && LOOPBACK_HOSTS.has(name)) return
  throw refused(`Host ${host ?? '(none)'} refused: without an API key (api_key.bootstrap_file) the management API serves only requests for localhost, 127.0.0.1 or [::1] (DNS rebinding protection)`)
}

/** The host name of a Host header value, without its port. */
function hostName (host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1)
  const colon = host.indexOf(':')
  return colon < 0 ? host : host.slice(0, colon)
}

/** host[:port] of an Origin, as the Host header writes it; undefined for `null` or an unparsable one. */
function originHost (origin: string): string | undefined {
  try {
    const url = new URL(origin)
    return url.host === '' ? undefined : url.host.toLowerCase()
  } catch {
    return undefined
  }
}

function header (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function refused (message: string): CulexError {
  return new CulexError('CULEX_ERR_API_ORIGIN', message)
}
