// `mechanism = scram, backend = built_in_database` (EMQX's emqx_authn_scram_mnesia): MQTT 5 enhanced
// authentication with SCRAM-SHA-256 or SCRAM-SHA-512 (RFC 5802, RFC 7677). Users are kept as salted keys
// (never the password) in <data_dir>/authn/scram-built_in_database.json.
// Exchange: CONNECT carries client-first-message → AUTH 0x18 server-first-message → AUTH 0x18
// client-final-message → CONNACK with server-final-message (v=...). Unknown user or wrong proof → 0x86.
// Limits: no channel binding (gs2 "p=" is refused); user names are not SASLprep-normalized (ASCII is
// used as sent); re-authentication after CONNECT is not offered.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { scramAuthenticator, type ScramAuthenticatorConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { AuthResult, ClientInfo, EnhancedAuthExchange, EnhancedAuthStep } from '../mqtt/hooks.js'
import { RC } from '../mqtt/reason-codes.js'
import type { Authenticator } from './types.js'
import { UserStore, parseBootstrap } from './users.js'

export const SCRAM_AUTHENTICATOR_ID = 'scram:built_in_database'

export type ScramAlgorithm = 'sha256' | 'sha512'

/** One user as stored: base64 salt and keys. */
export interface ScramUser {
  user_id: string
  salt: string
  stored_key: string
  server_key: string
  iteration_count: number
  is_superuser: boolean
}

export interface ScramKeys { storedKey: Buffer, serverKey: Buffer }

const hmac = (alg: ScramAlgorithm, key: Buffer, text: string | Buffer) => createHmac(alg, key).update(text).digest()
const hash = (alg: ScramAlgorithm, data: Buffer) => createHash(alg).update(data).digest()
const keyLength = (alg: ScramAlgorithm) => (alg === 'sha256' ? 32 : 64)

/** RFC 5802 section 3: SaltedPassword, then ClientKey → StoredKey and ServerKey. */
export function scramKeys (alg: ScramAlgorithm, password: string, salt: Buffer, iterations: number): ScramKeys {
  const salted = pbkdf2Sync(password, salt, iterations, keyLength(alg), alg)
  return { storedKey: hash(alg, hmac(alg, salted, 'Client Key')), serverKey: hmac(alg, salted, 'Server Key') }
}

export const scramMethod = (alg: ScramAlgorithm): string => (alg === 'sha256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512')

/** `a=1,b=2` → { a: '1', b: '2' }; values may hold '='. */
function attributes (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=') continue
    if (!out.has(part[0]!)) out.set(part[0]!, part.slice(2))
  }
  return out
}

/** RFC 5802 saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed. */
function decodeName (name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined
  return name.replaceAll('=2C', ',').replaceAll('=3D', '=')
}

const BAD_USER: EnhancedAuthStep = { result: 'deny', reasonCode: RC.BAD_USER_NAME_OR_PASSWORD, reason: 'bad username or password' }
const malformed = (why: string): EnhancedAuthStep => ({ result: 'deny', reasonCode: RC.NOT_AUTHORIZED, reason: `SCRAM: ${why}` })

/** The server side of one SCRAM exchange: two steps, then every further step is refused. */
export class ScramExchange implements EnhancedAuthExchange {
  readonly #alg: ScramAlgorithm
  readonly #lookup: (userId: string) => ScramUser | undefined | Promise<ScramUser | undefined>
  readonly #serverNonce: string
  #state: 'first' | 'final' | 'done' = 'first'
  #user: ScramUser | undefined
  #gs2Header = ''
  #nonce = ''
  #firstBare = ''
  #serverFirst = ''

  /** `serverNonce` only for tests (the RFC vectors); by default 18 random bytes. */
  constructor (alg: ScramAlgorithm, lookup: (userId: string) => ScramUser | undefined | Promise<ScramUser | undefined>, serverNonce?: string) {
    this.#alg = alg
    this.#lookup = lookup
    this.#serverNonce = serverNonce ?? randomBytes(18).toString('base64')
  }

  async step (data: Buffer | undefined): Promise<EnhancedAuthStep> {
    const text = data?.toString('utf8') ?? ''
    if (this.#state === 'first') return this.#first(text)
    if (this.#state === 'final') return this.#final(text)
    return malformed('the exchange is over')
  }

  async #first (text: string): Promise<EnhancedAuthStep> {
    this.#state = 'done'
    // gs2-header: "n," or "y," (no channel binding), then an optional authzid, then the bare message.
    const m = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(text)
    if (!m) return malformed(text.startsWith('p=') ? 'channel binding is not supported' : 'malformed client-first-message')
    this.#gs2Header = text.slice(0, text.length - m[3]!.length)
    this.#firstBare = m[3]!
    const attrs = attributes(this.#firstBare)
    const name = decodeName(attrs.get('n') ?? '')
    const clientNonce = attrs.get('r')
    if (!name || !clientNonce || !this.#firstBare.startsWith('n=')) return malformed('client-first-message needs n= and r=')
    this.#user = await this.#lookup(name)
    if (!this.#user) return BAD_USER
    this.#nonce = clientNonce + this.#serverNonce
    this.#serverFirst = `r=${this.#nonce},s=${this.#user.salt},i=${this.#user.iteration_count}`
    this.#state = 'final'
    return { result: 'continue', data: Buffer.from(this.#serverFirst) }
  }

  #final (text: string): EnhancedAuthStep {
    this.#state = 'done'
    const at = text.lastIndexOf(',p=')
    if (at < 0) return malformed('client-final-message has no proof')
    const withoutProof = text.slice(0, at)
    const attrs = attributes(withoutProof)
    if (attrs.get('c') !== Buffer.from(this.#gs2Header).toString('base64')) return malformed('channel binding data does not match the gs2 header')
    if (attrs.get('r') !== this.#nonce) return malformed('nonce does not match')
    const user = this.#user!
    const alg = this.#alg
    const proof = Buffer.from(text.slice(at + 3), 'base64')
    const authMessage = `${this.#firstBare},${this.#serverFirst},${withoutProof}`
    const storedKey = Buffer.from(user.stored_key, 'base64')
    const signature = hmac(alg, storedKey, authMessage)
    if (proof.length !== signature.length) return BAD_USER
    const clientKey = Buffer.alloc(proof.length)
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!
    if (!timingSafeEqual(hash(alg, clientKey), storedKey)) return BAD_USER
    const serverSignature = hmac(alg, Buffer.from(user.server_key, 'base64'), authMessage)
    return { result: 'ok', data: Buffer.from(`v=${serverSignature.toString('base64')}`), isSuperuser: user.is_superuser, username: user.user_id }
  }
}

export interface ScramAuthenticatorOptions { dataDir: string, log: Log }

/** What the API would show of a user: never the keys. */
export interface ScramUserInfo { user_id: string, is_superuser: boolean }

export class ScramAuthenticator implements Authenticator {
  readonly id = SCRAM_AUTHENTICATOR_ID
  readonly config: ScramAuthenticatorConfig
  readonly method: string
  readonly #users: UserStore<ScramUser>
  readonly #log: Log
  /** The bootstrap import; lookups wait for it. */
  readonly ready: Promise<void>

  constructor (config: ScramAuthenticatorConfig | Record<string, unknown>, opts: ScramAuthenticatorOptions) {
    this.config = scramAuthenticator.parse(config)
    this.method = scramMethod(this.config.algorithm)
    this.#log = opts.log
    this.#users = new UserStore<ScramUser>(join(opts.dataDir, 'authn', `${this.id.replace(':', '-')}.json`)).load()
    this.ready = this.#users.size === 0 && this.config.bootstrap_file !== '' ? this.#bootstrap() : Promise.resolve()
  }

  /** CONNECT without enhanced authentication: not this authenticator's business. */
  authenticate (): AuthResult {
    return { result: 'ignore' }
  }

  enhanced (method: string, _client: ClientInfo): EnhancedAuthExchange | undefined {
    if (method !== this.method) return undefined
    return new ScramExchange(this.config.algorithm, async (userId) => {
      await this.ready
      return this.#users.get(userId)
    })
  }

  async close (): Promise<void> {
    await this.ready
    await this.#users.flushed()
  }

  list (): ScramUserInfo[] {
    return this.#users.list().map(show)
  }

  /** Adds a user, deriving its keys with this authenticator's algorithm and iteration_count; undefined when the id is taken. */
  async addUser (userId: string, password: string, isSuperuser = false): Promise<ScramUserInfo | undefined> {
    await this.ready
    if (this.#users.get(userId)) return undefined
    const user = this.#record(userId, password, isSuperuser)
    await this.#users.put(user)
    return show(user)
  }

  async deleteUser (userId: string): Promise<boolean> {
    await this.ready
    return this.#users.delete(userId)
  }

  #record (userId: string, password: string, isSuperuser: boolean): ScramUser {
    const salt = randomBytes(16)
    const { storedKey, serverKey } = scramKeys(this.config.algorithm, password, salt, this.config.iteration_count)
    return {
      user_id: userId,
      salt: salt.toString('base64'),
      stored_key: storedKey.toString('base64'),
      server_key: serverKey.toString('base64'),
      iteration_count: this.config.iteration_count,
      is_superuser: isSuperuser,
    }
  }

  /** Plain passwords only (keys cannot be imported); a missing or bad file is a warning, as EMQX. */
  async #bootstrap (): Promise<void> {
    const file = this.config.bootstrap_file
    try {
      const entries = parseBootstrap(file, await readFile(file, 'utf8'), 'plain')
      for (const e of entries) if (!this.#users.get(e.user_id)) this.#users.set(this.#record(e.user_id, e.password!, e.is_superuser))
      await this.#users.save()
      this.#log.info({ authenticator: this.id, file, users: entries.length }, 'authentication users imported from the bootstrap file')
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      this.#log.warning({ authenticator: this.id, file }, `authentication bootstrap_file not imported: ${why}`)
    }
  }
}

const show = (u: ScramUser): ScramUserInfo => ({ user_id: u.user_id, is_superuser: u.is_superuser })
