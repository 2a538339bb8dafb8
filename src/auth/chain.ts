// The authenticator chain (EMQX `authentication = [...]`): a global chain, per-listener chains that
// replace it, and `enable_authn` per listener. Installed in the broker as one `authenticate` hook.
import { CulexError } from '../errors.js'
import type { AuthenticatorConfig, CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { AuthResult, ClientInfo, Credentials, EnhancedAuthExchange, HookMap, Hooks } from '../mqtt/hooks.js'
import { RC } from '../mqtt/reason-codes.js'
import { CertAuthenticator } from './cert.js'
import { HttpAuthenticator } from './http.js'
import { JwtAuthenticator } from './jwt.js'
import { orderProblem, type OrderProblem } from './order.js'
import { RateSampler } from './rates.js'
import { PasswordAuthenticator } from './password.js'
import { PostgresAuthenticator } from './postgres.js'
import { RedisAuthenticator } from './redis.js'
import { ScramAuthenticator } from './scram.js'
import type { Authenticator } from './types.js'

export type EnableAuthn = boolean | 'quick_deny_anonymous'

export type AuthnOutcome = 'allow' | 'deny' | 'ignore' | 'error'

export interface AuthenticatorContext { log: Log, dataDir: string }

/** Builds an authenticator from its config; `null` for a mechanism it does not know. */
export type AuthenticatorFactory = (config: AuthenticatorConfig, ctx: AuthenticatorContext) => Authenticator | null

const factories: AuthenticatorFactory[] = [
  (c, { log }) => (c.mechanism === 'jwt' ? new JwtAuthenticator(c, log) : null),
  (c) => (c.mechanism === 'cert' ? new CertAuthenticator() : null),
  (c, ctx) => (c.mechanism === 'password_based' && c.backend === 'built_in_database' ? new PasswordAuthenticator(c, ctx) : null),
  (c, { log }) => (c.mechanism === 'password_based' && c.backend === 'http' ? new HttpAuthenticator(c, log) : null),
  (c, { log }) => (c.mechanism === 'password_based' && c.backend === 'redis' ? new RedisAuthenticator(c, log) : null),
  (c, { log }) => (c.mechanism === 'password_based' && c.backend === 'postgresql' ? new PostgresAuthenticator(c, log) : null),
  (c, ctx) => (c.mechanism === 'scram' ? new ScramAuthenticator(c, ctx) : null),
]

export function createAuthenticator (config: AuthenticatorConfig, ctx: AuthenticatorContext): Authenticator {
  for (const factory of factories) {
    const made = factory(config, ctx)
    if (made) return made
  }
  throw new CulexError('CULEX_ERR_AUTHN_CONFIG', `no authenticator for mechanism ${String((config as { mechanism: unknown }).mechanism)}`)
}

const GLOBAL = '*'

/** EMQX's authenticator id for a config: `<mechanism>` or `<mechanism>:<backend>`. */
export function authenticatorId (config: AuthenticatorConfig): string {
  const backend = (config as { backend?: string }).backend
  return backend ? `${config.mechanism}:${backend}` : config.mechanism
}

/** Where `move` puts an authenticator (EMQX: front, rear, before:<id>, after:<id>). */
export type ChainPosition = 'front' | 'rear' | { before: string } | { after: string }

export class AuthnChain {
  readonly #log: Log
  readonly #hooks: Hooks
  /** Chain by listener id; GLOBAL for the global chain. */
  readonly #chains = new Map<string, Authenticator[]>([[GLOBAL, []]])
  readonly #enable = new Map<string, EnableAuthn>()
  /** The config each authenticator was built from (absent for ones added as objects by library code). */
  readonly #configs = new WeakMap<Authenticator, AuthenticatorConfig>()
  #ctx: AuthenticatorContext
  #installed = false
  /** Clients accepted, by authenticator id (Prometheus). */
  readonly successes = new Map<string, number>()
  /** Clients refused, by authenticator id (or quick_deny_anonymous, chain), then CONNACK reason code. */
  readonly failures = new Map<string, Map<number, number>>()
  /** Every answer, by authenticator id, then allow | deny | ignore | error (its backend failed: ignored too). */
  readonly results = new Map<string, Record<AuthnOutcome, number>>()
  /** Answers per second by authenticator id (the status endpoint's rate, rate_max, rate_last5m). */
  readonly rates = new RateSampler(() => [...this.results].map(([id, r]) => [id, r.allow + r.deny + r.ignore + r.error] as const))
  readonly #hook: HookMap['authenticate'] = (client, credentials) => this.authenticate(client, credentials)

  constructor (hooks: Hooks, log: Log) {
    this.#hooks = hooks
    this.#log = log
    this.#ctx = { log, dataDir: '.' }
    hooks.enhancedAuth = (client, method) => this.enhanced(client, method)
  }

  /** Loads the global and per-listener chains and every listener's enable_authn from the config. */
  configure (config: CulexConfig): void {
    const ctx = this.#ctx = { log: this.#log, dataDir: config.node.data_dir }
    for (const c of config.authentication) if (c.enable) this.add(createAuthenticator(c, ctx), undefined, GLOBAL, c)
    for (const [type, byName] of Object.entries(config.listeners)) {
      for (const [name, l] of Object.entries(byName as Record<string, { authentication?: AuthenticatorConfig[], enable_authn: EnableAuthn }>)) {
        const id = `${type}:${name}`
        if (l.enable_authn !== true) this.setEnable(id, l.enable_authn)
        if (l.authentication) {
          this.#chains.set(id, [])
          for (const c of l.authentication) if (c.enable) this.add(createAuthenticator(c, ctx), undefined, id, c)
          this.#install()
        }
      }
    }
  }

  /** Adds an authenticator at `position` (default: the end) of the global chain or of a listener's. */
  add (authenticator: Authenticator, position?: number, listener = GLOBAL, config?: AuthenticatorConfig): void {
    const chain = this.#chains.get(listener) ?? []
    this.#chains.set(listener, chain)
    if (chain.some((a) => a.id === authenticator.id)) throw new CulexError('CULEX_ERR_AUTHN_CHAIN', `authenticator ${authenticator.id} is already in the chain`)
    if (config) this.#configs.set(authenticator, config)
    chain.splice(position ?? chain.length, 0, authenticator)
    this.#install()
  }

  /** Removes (and closes) the authenticator with this id; false when the chain has none. */
  remove (id: string, listener = GLOBAL): boolean {
    const chain = this.#chains.get(listener) ?? []
    const at = chain.findIndex((a) => a.id === id)
    if (at < 0) return false
    const [removed] = chain.splice(at, 1)
    this.#closeQuietly(removed!)
    return true
  }

  /** Builds an authenticator from a (parsed) config with the broker's context (log, node.data_dir). */
  create (config: AuthenticatorConfig): Authenticator {
    return createAuthenticator(config, this.#ctx)
  }

  /** Puts `authenticator` in the place of the one with its id (closing that one); false when there is none. */
  replace (authenticator: Authenticator, listener = GLOBAL, config?: AuthenticatorConfig): boolean {
    const chain = this.#chains.get(listener) ?? []
    const at = chain.findIndex((a) => a.id === authenticator.id)
    if (at < 0) return false
    const old = chain[at]!
    chain[at] = authenticator
    if (config) this.#configs.set(authenticator, config)
    if (old !== authenticator) this.#closeQuietly(old)
    return true
  }

  /** Moves an authenticator; throws when it or the one named in `position` is not in the chain. */
  move (id: string, position: ChainPosition, listener = GLOBAL): void {
    const chain = this.#chains.get(listener) ?? []
    const at = chain.findIndex((a) => a.id === id)
    if (at < 0) throw new CulexError('CULEX_ERR_AUTHN_CHAIN', `no authenticator ${id} in the chain`)
    const ref = typeof position === 'object' ? ('before' in position ? position.before : position.after) : undefined
    if (ref !== undefined && !chain.some((a) => a.id === ref)) throw new CulexError('CULEX_ERR_AUTHN_CHAIN', `no authenticator ${ref} in the chain`)
    if (ref === id) return
    const [moving] = chain.splice(at, 1)
    let to = position === 'front' ? 0 : chain.length
    if (typeof position === 'object') to = chain.findIndex((a) => a.id === ref) + ('after' in position ? 1 : 0)
    chain.splice(to, 0, moving!)
  }

  /** Puts the chain in this order of ids, which must name each authenticator exactly once; else returns what is wrong, changing nothing. */
  reorder (ids: readonly string[], listener = GLOBAL): OrderProblem | null {
    const chain = this.#chains.get(listener) ?? []
    const problem = orderProblem(chain.map((a) => a.id), ids)
    if (problem) return problem
    const byId = new Map(chain.map((a) => [a.id, a]))
    chain.splice(0, chain.length, ...ids.map((id) => byId.get(id)!))
    return null
  }

  /** The config an authenticator was built from, when it was built from one. */
  configOf (authenticator: Authenticator): AuthenticatorConfig | undefined {
    return this.#configs.get(authenticator)
  }

  /** Whether this listener has a chain of its own (else it uses the global one). */
  hasChain (listener: string): boolean {
    return this.#chains.has(listener)
  }

  #closeQuietly (authenticator: Authenticator): void {
    void Promise.resolve(authenticator.close?.()).catch((err: unknown) => this.#log.warning({ err, authenticator: authenticator.id }, 'closing authenticator failed'))
  }

  /** The first authenticator of the client's chain that serves this Authentication Method (MQTT 5 enhanced authentication). */
  enhanced (client: ClientInfo, method: string): EnhancedAuthExchange | undefined {
    if ((this.#enable.get(client.listener) ?? true) === false) return undefined
    const chain = this.#chains.get(client.listener) ?? this.#chains.get(GLOBAL)!
    for (const authenticator of chain) {
      const exchange = authenticator.enhanced?.(method, client)
      if (exchange) return exchange
    }
    return undefined
  }

  list (listener = GLOBAL): readonly Authenticator[] {
    return [...(this.#chains.get(listener) ?? [])]
  }

  setEnable (listener: string, mode: EnableAuthn): void {
    this.#enable.set(listener, mode)
    this.#install()
  }

  async close (): Promise<void> {
    this.rates.close()
    const all = [...this.#chains.values()].flat()
    for (const chain of this.#chains.values()) chain.length = 0
    await Promise.allSettled(all.map((a) => a.close?.()))
  }

  async authenticate (client: ClientInfo, credentials: Credentials): Promise<AuthResult> {
    const mode = this.#enable.get(client.listener) ?? true
    // Other authenticate hooks (library users) decide when this chain has nothing to say.
    const othersDecide = this.#hooks.authenticate.length > 1
    if (mode === false) return { result: 'ok' }
    // Authenticators disabled through the API keep their place but are not asked.
    const chain = (this.#chains.get(client.listener) ?? this.#chains.get(GLOBAL)!).filter((a) => this.#configs.get(a)?.enable !== false)
    if (chain.length === 0) return othersDecide ? { result: 'ignore' } : { result: 'ok' }
    if (mode === 'quick_deny_anonymous' && credentials.username === undefined && credentials.password === undefined) {
      return this.#refused(client, 'quick_deny_anonymous', { result: 'deny', reasonCode: RC.NOT_AUTHORIZED, reason: 'anonymous clients are refused' })
    }
    const undecided: string[] = []
    for (const authenticator of chain) {
      let answer: AuthResult
      try {
        answer = await authenticator.authenticate(client, credentials)
      } catch (err) {
        // As EMQX: an authenticator that fails is passed over, not fatal.
        this.#log.error({ err, clientid: client.clientId, listener: client.listener, authenticator: authenticator.id }, 'authenticator failed')
        undecided.push(`${authenticator.id}: failed (${(err as Error).message})`)
        this.#count(authenticator.id, 'error')
        continue
      }
      this.#count(authenticator.id, answer.result === 'ok' ? 'allow' : answer.result === 'deny' ? 'deny' : answer.failed ? 'error' : 'ignore')
      if (answer.result === 'ok') {
        this.successes.set(authenticator.id, (this.successes.get(authenticator.id) ?? 0) + 1)
        return { ...answer, authenticator: authenticator.id }
      }
      if (answer.result === 'deny') return this.#refused(client, authenticator.id, answer)
      undecided.push(`${authenticator.id}: ${answer.reason ?? 'ignored'}`)
    }
    if (othersDecide) return { result: 'ignore', reason: undecided.join('; ') }
    return this.#refused(client, 'chain', { result: 'deny', reasonCode: RC.NOT_AUTHORIZED, reason: 'no authenticator accepted the client', detail: undecided.join('; ') })
  }

  #count (id: string, outcome: AuthnOutcome): void {
    let counts = this.results.get(id)
    if (!counts) this.results.set(id, counts = { allow: 0, deny: 0, ignore: 0, error: 0 })
    counts[outcome]++
  }

  /** Names the authenticator (the CONNECT handler logs the refusal once, with it) and counts the refusal. */
  #refused (_client: ClientInfo, authenticator: string, answer: Extract<AuthResult, { result: 'deny' }>): AuthResult {
    let byCode = this.failures.get(authenticator)
    if (!byCode) this.failures.set(authenticator, byCode = new Map())
    const rc = answer.reasonCode ?? RC.NOT_AUTHORIZED
    byCode.set(rc, (byCode.get(rc) ?? 0) + 1)
    return { ...answer, authenticator }
  }

  /** The hook goes first, and only once something is configured: a broker without authentication keeps the synchronous CONNECT path. */
  #install (): void {
    if (this.#installed) return
    this.#installed = true
    this.#hooks.authenticate.unshift(this.#hook)
  }
}
