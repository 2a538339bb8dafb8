// A JWKS key set fetched over HTTP(S): refreshed every refresh_interval, refetched once (rate-limited)
// when a token names an unknown kid, and kept as last known good while the endpoint is down.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { importJWK, JWK } from 'jose'
import { CulexError } from '../errors.js'
import type { JwtAuthenticatorConfig } from '../config/schema.js'
import type { Log } from '../log.js'

/** Shortest time between two fetches caused by unknown kids. */
export const JWKS_REFETCH_COOLDOWN = 30_000
const FETCH_TIMEOUT = 5_000
const MAX_BODY = 1024 * 1024

export interface JwkKey { kid: string | undefined, alg: string | undefined, kty: string, jwk: JWK }

export class JwksCache {
  readonly #config: JwtAuthenticatorConfig
  readonly #log: Log
  readonly #id: string
  #keys: JwkKey[] = []
  #timer: NodeJS.Timeout | null = null
  #inflight: Promise<void> | null = null
  #lastOnDemand = 0
  #closed = false

  constructor (config: JwtAuthenticatorConfig, log: Log, id: string) {
    this.#config = config
    this.#log = log
    this.#id = id
    void this.refresh()
    this.#timer = setInterval(() => { void this.refresh() }, config.refresh_interval)
    this.#timer.unref()
  }

  /** The key for this token header (by kid, else the only key of a fitting type), imported for `alg`. */
  async key (kid: string | undefined, alg: string): Promise<Awaited<ReturnType<typeof importJWK>> | null> {
    if (this.#inflight) await this.#inflight
    let found = this.#find(kid, alg)
    if (!found && Date.now() - this.#lastOnDemand >= JWKS_REFETCH_COOLDOWN) {
      this.#lastOnDemand = Date.now()
      await this.refresh()
      found = this.#find(kid, alg)
    }
    if (!found) return null
    const jose = await import('jose')
    try {
      return await jose.importJWK(found.jwk, alg)
    } catch (err) {
      // The token is refused as one without a key; the operator needs to know the key set holds a bad key.
      this.#log.warning({ authenticator: this.#id, kid: found.kid, alg, err: (err as Error).message }, 'JWKS key cannot be used, tokens signed with it are refused')
      return null
    }
  }

  /** Fetches the key set; on failure the previous keys stay. Concurrent callers share one fetch. */
  refresh (): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#inflight ??= this.#fetch().then((keys) => {
      this.#keys = keys
    }, (err: unknown) => {
      this.#log.warning({ authenticator: this.#id, endpoint: this.#config.endpoint, err: String(err), keptKeys: this.#keys.length }, 'JWKS fetch failed; keeping the last key set')
    }).finally(() => { this.#inflight = null })
    return this.#inflight
  }

  close (): void {
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
  }

  #find (kid: string | undefined, alg: string): JwkKey | undefined {
    const kty = alg.startsWith('ES') ? 'EC' : alg.startsWith('HS') ? 'oct' : 'RSA'
    const fits = this.#keys.filter((k) => k.kty === kty && (k.alg === undefined || k.alg === alg))
    if (kid !== undefined) return fits.find((k) => k.kid === kid)
    return fits.length === 1 ? fits[0] : undefined
  }

  #fetch (): Promise<JwkKey[]> {
    const url = new URL(this.#config.endpoint)
    const ssl = this.#config.ssl
    const secure = url.protocol === 'https:'
    const options: https.RequestOptions = { method: 'GET', headers: this.#config.headers, timeout: FETCH_TIMEOUT }
    if (secure) {
      options.rejectUnauthorized = ssl.verify === 'verify_peer'
      if (ssl.cacertfile) options.ca = readFileSync(ssl.cacertfile)
      if (ssl.certfile) options.cert = readFileSync(ssl.certfile)
      if (ssl.keyfile) options.key = readFileSync(ssl.keyfile)
      if (ssl.server_name_indication && ssl.server_name_indication !== 'disable') options.servername = ssl.server_name_indication
    }
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > MAX_BODY) req.destroy(new CulexError('CULEX_ERR_JWKS', 'JWKS response too large'))
          else chunks.push(c)
        })
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new CulexError('CULEX_ERR_JWKS', `JWKS endpoint answered HTTP ${res.statusCode}`))
          try {
            resolve(parseJwks(Buffer.concat(chunks).toString('utf8')))
          } catch (err) {
            reject(err as Error)
          }
        })
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new CulexError('CULEX_ERR_JWKS', 'JWKS fetch timed out')))
      req.on('error', reject)
      req.end()
    })
  }
}

function parseJwks (text: string): JwkKey[] {
  const doc = JSON.parse(text) as { keys?: unknown }
  if (!Array.isArray(doc.keys)) throw new CulexError('CULEX_ERR_JWKS', 'JWKS document has no keys array')
  const keys: JwkKey[] = []
  for (const k of doc.keys as JWK[]) {
    if (typeof k !== 'object' || k === null || typeof k.kty !== 'string') continue
    if (k.use !== undefined && k.use !== 'sig') continue
    keys.push({ kid: k.kid, alg: k.alg, kty: k.kty, jwk: k })
  }
  return keys
}
