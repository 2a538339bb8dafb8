// `mechanism = jwt` (EMQX's JWT authenticator): the token comes in the password (or user name), is
// verified with an HMAC secret, a public key or a JWKS endpoint, then its claims are checked.
// Outcomes, as EMQX: no token, not a JWS, a bad signature or a refused algorithm → ignore (the next
// authenticator may know the client); a verified token that is expired, not yet valid, issued in the
// future or whose verify_claims do not match → deny with 0x86 Bad User Name or Password (v3: 4),
// as EMQX answers `bad_username_or_password` for all of those.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { CulexError } from '../errors.js'
import type { JwtAuthenticatorConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { AuthResult, ClientInfo, Credentials, TokenAcl, TokenAclRule } from '../mqtt/hooks.js'
import { expandIdentity } from '../mqtt/identity.js'
import { RC } from '../mqtt/reason-codes.js'
import { JwksCache } from './jwks.js'
import type { Authenticator } from './types.js'

export const HMAC_ALGS = ['HS256', 'HS384', 'HS512']
export const PUBLIC_KEY_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']

type Claims = Record<string, unknown>

export class JwtAuthenticator implements Authenticator {
  readonly id = 'jwt'
  readonly #config: JwtAuthenticatorConfig
  readonly #algorithms: string[]
  readonly #secret: Uint8Array | null = null
  readonly #publicKey: KeyObject | null = null
  readonly #jwks: JwksCache | null = null
  /** Loaded with the first JWT authenticator rather than with the broker, which seldom has one. */
  readonly #jose = import('jose')

  constructor (config: JwtAuthenticatorConfig, log: Log) {
    this.#config = config
    if (config.use_jwks) {
      if (!config.endpoint) throw new CulexError('CULEX_ERR_AUTHN_CONFIG', 'jwt authenticator: use_jwks = true needs an endpoint')
      this.#jwks = new JwksCache(config, log, this.id)
      this.#algorithms = PUBLIC_KEY_ALGS
    } else if (config.algorithm === 'hmac-based') {
      if (!config.secret) throw new CulexError('CULEX_ERR_AUTHN_CONFIG', 'jwt authenticator: algorithm = hmac-based needs a secret')
      this.#secret = config.secret_base64_encoded ? Buffer.from(config.secret, 'base64') : Buffer.from(config.secret)
      this.#algorithms = HMAC_ALGS
    } else {
      this.#publicKey = createPublicKey(config.public_key)
      this.#algorithms = PUBLIC_KEY_ALGS
    }
  }

  async authenticate (client: ClientInfo, credentials: Credentials): Promise<AuthResult> {
    const raw = this.#config.from === 'password' ? credentials.password?.toString('utf8') : credentials.username
    if (!raw) return { result: 'ignore', reason: `no token in the ${this.#config.from}` }
    if (raw.split('.').length !== 3) return { result: 'ignore', reason: `the ${this.#config.from} is not a JWT (three dot-separated parts)` }
    const verified = await this.#verify(raw)
    if (typeof verified === 'string') return { result: 'ignore', reason: verified }
    const claims = verified
    const problem = checkTimes(claims) ?? this.#checkClaims(claims, client)
    if (problem) return { result: 'deny', reasonCode: RC.BAD_USER_NAME_OR_PASSWORD, reason: problem }
    const acl = claims[this.#config.acl_claim_name]
    const tokenAcl = acl === undefined ? undefined : convertAcl(acl)
    if (tokenAcl === null) return { result: 'deny', reasonCode: RC.NOT_AUTHORIZED, reason: `malformed ${this.#config.acl_claim_name} claim` }
    const answer: AuthResult = { result: 'ok', isSuperuser: claims.is_superuser === true || claims.is_superuser === 'true' }
    if (tokenAcl) answer.acl = tokenAcl
    const attrs = clientAttrs(claims.client_attrs)
    if (attrs) answer.attrs = attrs
    if (typeof claims.exp === 'number') {
      answer.aclExpireAt = claims.exp * 1000
      if (this.#config.disconnect_after_expire) answer.expireAt = claims.exp * 1000
    }
    return answer
  }

  close (): void {
    this.#jwks?.close()
  }

  /** The payload of a token whose signature verifies with an allowed algorithm; otherwise why not. */
  async #verify (token: string): Promise<Claims | string> {
    const { compactVerify, decodeProtectedHeader } = await this.#jose
    let header
    try {
      header = decodeProtectedHeader(token)
    } catch {
      return 'the token header is not valid JSON in base64url'
    }
    // alg none, and an HMAC token against a public key (or the reverse), never get this far.
    const alg = header.alg
    if (typeof alg !== 'string' || !this.#algorithms.includes(alg)) {
      return `algorithm ${String(alg)} is not accepted here (expected one of ${this.#algorithms.join(', ')})`
    }
    const key = this.#jwks ? await this.#jwks.key(header.kid, alg) : (this.#secret ?? this.#publicKey!)
    if (!key) return `no key in the JWKS for kid ${String(header.kid)} and ${alg}`
    let payload: Uint8Array
    try {
      payload = (await compactVerify(token, key, { algorithms: [alg] })).payload
    } catch {
      return 'signature verification failed'
    }
    try {
      const claims = JSON.parse(Buffer.from(payload).toString('utf8')) as unknown
      if (typeof claims === 'object' && claims !== null && !Array.isArray(claims)) return claims as Claims
    } catch { /* below */ }
    return 'the token payload is not a JSON object'
  }

  #checkClaims (claims: Claims, client: ClientInfo): string | null {
    for (const [name, template] of Object.entries(this.#config.verify_claims)) {
      const expected = expandIdentity(template, client)
      const actual = claims[name]
      if (actual === undefined) return `claim ${name} is missing`
      // A claim holding a list (aud from most identity providers) matches when one member does.
      const matches = Array.isArray(actual) ? actual.some((v) => isScalar(v) && String(v) === expected) : isScalar(actual) && String(actual) === expected
      if (!matches) return `claim ${name} does not match`
    }
    return null
  }
}

const isScalar = (v: unknown): boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'

function checkTimes (claims: Claims): string | null {
  const now = Date.now() / 1000
  const { exp, nbf, iat } = claims
  if (exp !== undefined && (typeof exp !== 'number' || exp <= now)) return 'token expired'
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) return 'token not yet valid'
  if (iat !== undefined && (typeof iat !== 'number' || iat > now)) return 'token issued in the future'
  return null
}

/** Both EMQX token ACL formats; null when the claim is malformed. */
export function convertAcl (acl: unknown): TokenAcl | null {
  if (Array.isArray(acl)) {
    const rules: TokenAclRule[] = []
    for (const r of acl as Record<string, unknown>[]) {
      const rule = convertRule(r)
      if (!rule) return null
      rules.push(rule)
    }
    return { format: 'rules', rules }
  }
  if (typeof acl !== 'object' || acl === null) return null
  const lists = acl as Record<string, unknown>
  const list = (v: unknown): string[] | null => (v === undefined ? [] : Array.isArray(v) && v.every((s) => typeof s === 'string') ? v as string[] : null)
  const pub = list(lists.pub)
  const sub = list(lists.sub)
  const all = list(lists.all)
  if (!pub || !sub || !all) return null
  return { format: 'lists', pub, sub, all }
}

function convertRule (r: Record<string, unknown>): TokenAclRule | null {
  if (typeof r !== 'object' || r === null) return null
  const { permission, action, topic, qos, retain } = r
  if (permission !== 'allow' && permission !== 'deny') return null
  if (action !== 'publish' && action !== 'subscribe' && action !== 'all') return null
  if (typeof topic !== 'string') return null
  const rule: TokenAclRule = { permission, action, topic }
  if (qos !== undefined) {
    const list = Array.isArray(qos) ? qos : [qos]
    if (!list.every((q) => q === 0 || q === 1 || q === 2)) return null
    rule.qos = list as number[]
  }
  if (retain !== undefined) {
    if (retain !== true && retain !== false && retain !== 'all') return null
    rule.retain = retain
  }
  return rule
}

function clientAttrs (value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const attrs: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') attrs[k] = v
  return attrs
}
