// Authorization with EMQX semantics: superusers bypass; the token ACL first, then each source in order
// (the first allow or deny decides; no match or a failing source passes to the next), then
// authorization.no_match. Decisions are cached per client. A source may answer with a promise (a service
// over the network); while every source answers at once, a decision makes no promise.
import type { AuthorizationConfig, AuthzCacheConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { ClientInfo, Hooks, HookMap, ReadGuard, AuthzAnswer } from '../mqtt/hooks.js'
import { parseShared } from '../mqtt/topic.js'
import type { KvStore } from '../store/kv.js'
import { MemoryKvStore } from '../store/kv.js'
import { AclParseError } from './acl-file.js'
import { RULES_TABLE } from './authz-database.js'
import { FileSource } from './authz-file.js'
import { matchesAny, NOT_LISTED, tokenAclAnswer, tokenDenyFilters } from './authz-match.js'
import type { StoredRule } from './authz-raw-rule.js'
import { newCounts, SourceList, type SourceCounts, type SourceEntry } from './authz-sources.js'
import { RateSampler } from './rates.js'
import type { AuthzDecision, AuthzRequest, AuthzSource, SourceAnswer } from './authz-types.js'

export type { AuthzDecision, AuthzRequest, AuthzSource, SourceAnswer } from './authz-types.js'
export { FileSource, AclParseError }
export { expand, tokenAclAnswer } from './authz-match.js'

export type CachedDecision = AuthzDecision & { cached: boolean }

/** authorization's settings besides the sources (GET/PUT /api/v5/authorization/settings). */
export type AuthzSettings = Pick<AuthorizationConfig, 'no_match' | 'deny_action' | 'cache'>

export interface AuthorizerOptions {
  /** The listener mountpoint of a connected client, for clients whose ClientInfo has none. */
  mountpoint?: (client: ClientInfo) => string
  /** The data store: the built-in database's rules live in it (in memory without it). */
  store?: KvStore
  /** node.data_dir: rules text set through the API is written under it. */
  dataDir?: string
}

interface CacheEntry { decision: AuthzDecision; at: number }

/** A read check's answer for one topic: keyed by the topic string alone, which routing passes unchanged to every subscriber. */
interface ReadEntry { allowed: boolean; qos: number; at: number }

const TOKEN_EXPIRED = 'token expired'
const SUPERUSER: AuthzDecision = { permission: 'allow', source: 'superuser', rule: undefined }
/** A failing source is logged when it starts failing, then at most this often while it goes on. */
const FAILURE_LOG_MS = 10_000

export class Authorizer {
  /** Decisions answered from the cache, and computed (for the API and tests). */
  cacheHits = 0
  cacheMisses = 0
  /** What each source (and superuser, token_acl, no_match, cache) answered: culex_authz_total{source,result}. */
  readonly counts = new Map<string, SourceCounts>()
  /** Decisions per second by source (the status endpoint's rate, rate_max, rate_last5m). */
  readonly rates = new RateSampler(() => [...this.counts].map(([id, c]) => [id, c.allow + c.deny + c.nomatch + c.error] as const))
  readonly #list: SourceList
  readonly #config: AuthorizationConfig
  readonly #log: Log
  readonly #mountpoint: (client: ClientInfo) => string
  #cache = new WeakMap<ClientInfo, Map<string, CacheEntry>>()
  /** Read checks, cached apart from the decisions: a delivery builds no key and no request when it hits. */
  #reads = new WeakMap<ClientInfo, Map<string, ReadEntry>>()
  /** Bumped whenever the caches are dropped: a decision that finishes later is not cached. */
  #generation = 0
  #excludes: readonly string[] = []
  readonly #superuser: SourceCounts
  readonly #token: SourceCounts
  readonly #noMatch: SourceCounts
  readonly #cached: SourceCounts
  /** Filters under which a source's rule may deny a subscription (placeholders widened); 'any': every topic. */
  #sourceScope: string[] | 'any' = []
  /** The same for the token ACLs of connected clients: filter → how many clients' tokens have it. */
  readonly #tokenScope = new Map<string, number>()
  /** Both: what a routed topic is matched against. */
  #denyScope: string[] | 'any' = []
  /** Set once a client with a mountpoint was authorized: deny filters are then tried below each level. */
  #mounted = false
  #hooks: Hooks | null = null
  readonly #store: KvStore
  readonly #readGuard: ReadGuard = {
    mayDeny: (topic) => this.#mayDeny(topic),
    mayRead: (client, topic, qos, now) => this.#mayRead(client, topic, qos, now),
  }

  constructor (config: AuthorizationConfig, log: Log, mountpoint: (client: ClientInfo) => string = () => '', opts: AuthorizerOptions = {}) {
    this.#config = config
    this.#log = log
    this.#mountpoint = opts.mountpoint ?? mountpoint
    this.#store = opts.store ?? new MemoryKvStore()
    this.#superuser = this.#counts('superuser')
    this.#token = this.#counts('token_acl')
    this.#noMatch = this.#counts('no_match')
    this.#cached = this.#counts('cache')
    this.#excludes = config.cache.excludes
    this.#list = new SourceList({
      log,
      dataDir: opts.dataDir ?? 'data',
      rulesTable: () => this.#store.table<StoredRule[]>(RULES_TABLE),
      counts: (id) => this.#counts(id),
      changed: () => this.#sourcesChanged(),
    })
    this.#list.load(config.sources)
  }

  /** The configured and added sources, in order (the API manages them through this). */
  get sourceList (): SourceList { return this.#list }

  /** The sources asked, in order. */
  get sources (): AuthzSource[] {
    return this.#list.asked.map((e) => e.source!)
  }

  /** Asks this source after the configured ones. */
  addSource (source: AuthzSource): this {
    this.#list.addSource(source)
    return this
  }

  #counts (id: string): SourceCounts {
    let counts = this.counts.get(id)
    if (!counts) this.counts.set(id, counts = newCounts())
    return counts
  }

  // ---- settings and the cache ----

  get settings (): AuthzSettings {
    const { no_match: noMatch, deny_action: denyAction, cache } = this.#config
    return { no_match: noMatch, deny_action: denyAction, cache: { ...cache, excludes: [...cache.excludes] } }
  }

  /** Applies new settings (the API's PUT, or another node's): cached decisions go. */
  setSettings (settings: AuthzSettings): void {
    this.#config.no_match = settings.no_match
    this.#config.deny_action = settings.deny_action
    const cache: AuthzCacheConfig = { ...settings.cache, excludes: [...settings.cache.excludes] }
    this.#config.cache = cache
    this.#excludes = cache.excludes
    this.clearCache()
  }

  /** Drops every client's cached decisions: each client's next PUBLISH or SUBSCRIBE is decided again. */
  clearCache (): void {
    this.#cache = new WeakMap()
    this.#reads = new WeakMap()
    this.#generation++
  }

  /** Reads the file sources again (SIGHUP); how many reloaded. */
  reload (why: string): number {
    return this.#list.reload(why)
  }

  /** The broker started: file sources are watched for changes. */
  start (): void {
    this.#list.watch()
  }

  async close (): Promise<void> {
    this.rates.close()
    await this.#list.close()
  }

  #sourcesChanged (): void {
    this.clearCache()
    this.#sourceScope = this.#scopeOf(this.#list.asked)
    this.#rescope()
  }

  /** Whether anything but the token ACL can decide: without sources, no_match = allow leaves it to other hooks. */
  get #active (): boolean {
    return this.#list.asked.length > 0 || this.#config.no_match === 'deny'
  }

  // ---- decisions ----

  /** The decision for one request, from the client's cache when it is fresh; a promise only when a source answered with one. */
  authorize (client: ClientInfo, request: AuthzRequest): CachedDecision | Promise<CachedDecision> {
    const cache = this.#config.cache
    if (!cache.enable || (this.#excludes.length > 0 && matchesAny(this.#excludes, request.topic))) {
      const decided = this.#decide(client, request)
      return decided instanceof Promise ? decided.then(uncached) : uncached(decided)
    }
    let entries = this.#cache.get(client)
    if (!entries) this.#cache.set(client, entries = new Map())
    const key = `${request.action}\u0000${request.qos}\u0000${request.retain ? 1 : 0}\u0000${request.topic}`
    const now = Date.now()
    const hit = entries.get(key)
    // A decision made while the token was valid is made again once it has expired (EMQX clears the cache).
    const stale = hit !== undefined && client.aclExpireAt !== undefined && hit.at < client.aclExpireAt && now >= client.aclExpireAt
    if (hit && !stale && now - hit.at < cache.ttl) {
      this.cacheHits++
      this.#cached[hit.decision.permission]++
      return { ...hit.decision, cached: true }
    }
    this.cacheMisses++
    const decided = this.#decide(client, request)
    if (!(decided instanceof Promise)) {
      remember(entries, key, decided, now, cache.max_size)
      return uncached(decided)
    }
    const generation = this.#generation
    return decided.then((decision) => {
      const current = this.#cache.get(client)
      // Not cached when the caches were dropped meanwhile (the sources changed) or the client disconnected.
      if (generation === this.#generation && current) remember(current, key, decision, now, this.#config.cache.max_size)
      return uncached(decision)
    })
  }

  #decide (client: ClientInfo, request: AuthzRequest): AuthzDecision | Promise<AuthzDecision> {
    if (client.isSuperuser) {
      this.#superuser.allow++
      return SUPERUSER
    }
    const token = this.#tokenDecision(client, request, true)
    return token ?? this.#ask(this.#list.asked, 0, client, request)
  }

  #tokenDecision (client: ClientInfo, request: AuthzRequest, count: boolean): AuthzDecision | undefined {
    if (!client.acl) return undefined
    // As EMQX: an expired token's ACL denies everything; it does not hand over to the sources.
    if (client.aclExpireAt !== undefined && Date.now() >= client.aclExpireAt) {
      if (count) this.#token.deny++
      return { permission: 'deny', source: 'token_acl', rule: TOKEN_EXPIRED }
    }
    const answer = tokenAclAnswer(client.acl, client, request)
    if (count) this.#token[answer ? answer.permission : 'nomatch']++
    return answer && { permission: answer.permission, source: 'token_acl', rule: answer.rule }
  }

  /** Asks the sources from `from` on; goes on asynchronously from the first that answers with a promise. */
  #ask (list: readonly SourceEntry[], from: number, client: ClientInfo, request: AuthzRequest): AuthzDecision | Promise<AuthzDecision> {
    for (let i = from; i < list.length; i++) {
      const entry = list[i]!
      let answer: SourceAnswer | Promise<SourceAnswer>
      try {
        answer = entry.source!.authorize(client, request)
      } catch (err) {
        this.#failed(entry, err)
        continue
      }
      if (answer instanceof Promise) return this.#finish(list, i, answer, client, request)
      const decision = this.#answered(entry, answer)
      if (decision) return decision
    }
    return this.#noMatchDecision(true)
  }

  async #finish (list: readonly SourceEntry[], at: number, pending: Promise<SourceAnswer>, client: ClientInfo, request: AuthzRequest): Promise<AuthzDecision> {
    const entry = list[at]!
    let answer: SourceAnswer
    try {
      answer = await pending
    } catch (err) {
      this.#failed(entry, err)
      return this.#ask(list, at + 1, client, request)
    }
    return this.#answered(entry, answer) ?? this.#ask(list, at + 1, client, request)
  }

  #answered (entry: SourceEntry, answer: SourceAnswer): AuthzDecision | undefined {
    if (entry.failure !== null) this.#recovered(entry)
    if (answer === undefined) {
      entry.counts.nomatch++
      return undefined
    }
    entry.counts[answer.permission]++
    return { permission: answer.permission, source: entry.id, rule: answer.rule }
  }

  #noMatchDecision (count: boolean): AuthzDecision {
    const permission = this.#config.no_match
    if (count) this.#noMatch[permission]++
    return { permission, source: 'no_match', rule: undefined }
  }

  /** A source that threw, rejected or timed out is passed over (ignore); logged when it starts failing, then every FAILURE_LOG_MS. */
  #failed (entry: SourceEntry, err: unknown): void {
    entry.counts.error++
    const reason = err instanceof Error ? err.message : String(err)
    const now = Date.now()
    const failure = entry.failure
    // A backend (http, redis, postgresql) logs its own failures, once per cause.
    const quiet = err instanceof CulexError && err.code === 'CULEX_ERR_BACKEND'
    if (failure === null) {
      entry.failure = { since: now, count: 1, logged: now, quiet }
      if (!quiet) this.#log.warning({ source: entry.id, reason }, `authorization source ${entry.id} failed; it is passed over (ignore) until it answers again: ${reason}`)
      return
    }
    failure.count++
    if (quiet || now - failure.logged < FAILURE_LOG_MS) return
    failure.logged = now
    this.#log.warning({ source: entry.id, reason, failures: failure.count, since: new Date(failure.since).toISOString() },
      `authorization source ${entry.id} still fails (${failure.count} requests passed over): ${reason}`)
  }

  #recovered (entry: SourceEntry): void {
    const failure = entry.failure!
    entry.failure = null
    if (!failure.quiet) this.#log.notice({ source: entry.id, failures: failure.count, since: new Date(failure.since).toISOString() }, `authorization source ${entry.id} answers again`)
  }

  /** Drops a client's cached decisions (on disconnect). */
  forget (client: ClientInfo): void {
    this.#cache.delete(client)
    this.#reads.delete(client)
  }

  /** Installs the authorizer as the broker's authorizePublish / authorizeSubscribe hooks. */
  install (hooks: Hooks): void {
    // Nothing to check (no sources, no token ACL) is decided before any request object is made: the publish hot path.
    const publish: HookMap['authorizePublish'] = (client, message) => !client.acl && !this.#active
      ? undefined
      : this.#hook(client, { action: 'publish', topic: message.topic, qos: message.qos, retain: message.retain })
    const subscribe: HookMap['authorizeSubscribe'] = (client, request) => !client.acl && !this.#active
      ? undefined
      : this.#hook(client, { action: 'subscribe', topic: request.topic, qos: request.qos, retain: false })
    hooks.add('authorizePublish', publish)
    hooks.add('authorizeSubscribe', subscribe)
    hooks.add('clientConnected', (client) => this.#trackToken(client, 1))
    hooks.add('clientDisconnected', (client) => {
      this.forget(client)
      this.#trackToken(client, -1)
    })
    this.#hooks = hooks
    this.#rescope()
  }

  #hook (client: ClientInfo, mounted: AuthzRequest): AuthzAnswer | Promise<AuthzAnswer> {
    const request = { ...mounted, topic: this.#unmount(client, mounted.topic) }
    const decision = this.authorize(client, request)
    if (!(decision instanceof Promise)) return this.#hookAnswer(client, request, decision)
    return decision.then((d) => this.#hookAnswer(client, request, d), (err: unknown) => {
      this.#log.error({ err, client: client.clientId, action: request.action, topic: request.topic }, 'authorization failed; denied')
      return 'deny'
    })
  }

  #hookAnswer (client: ClientInfo, request: AuthzRequest, decision: CachedDecision): AuthzAnswer {
    // no_match = allow leaves the last word to hooks added after this one.
    if (decision.permission === 'allow') return decision.source === 'no_match' ? undefined : 'allow'
    this.#log.info({
      client: client.clientId, listener: client.listener, action: request.action, topic: request.topic,
      source: decision.source, rule: decision.rule, cached: decision.cached,
    }, `authorization denied ${request.action}`)
    return this.#config.deny_action === 'disconnect' ? 'disconnect' : 'deny'
  }

  /** As EMQX, rules see the topic the client wrote: without `$share/group/` and the listener mountpoint. */
  #unmount (client: ClientInfo, topic: string): string {
    const filter = parseShared(topic)?.filter ?? topic
    // The client's own, as wills are authorized after their connection has gone.
    const mountpoint = client.mountpoint ?? this.#mountpoint(client)
    if (mountpoint) this.#mounted = true
    return mountpoint && filter.startsWith(mountpoint) ? filter.slice(mountpoint.length) : filter
  }

  // ---- read checks (per delivery through a wildcard subscription; synchronous) ----

  /** A connected client's token deny rules widen what routing checks, until it disconnects. */
  #trackToken (client: ClientInfo, delta: 1 | -1): void {
    if (client.acl?.format !== 'rules') return
    const filters = tokenDenyFilters(client.acl.rules)
    if (filters.length === 0) return
    for (const filter of filters) {
      const count = (this.#tokenScope.get(filter) ?? 0) + delta
      if (count > 0) this.#tokenScope.set(filter, count)
      else this.#tokenScope.delete(filter)
    }
    this.#rescope()
  }

  /**
   * The filters under which the sources may deny a subscription. Asynchronous sources take no part in read
   * checks: a delivery cannot wait for a service (EMQX asks sources at PUBLISH and SUBSCRIBE only).
   */
  #scopeOf (entries: readonly SourceEntry[]): string[] | 'any' {
    const filters: string[] = []
    for (const entry of entries) {
      const source = entry.source!
      if (source.asynchronous || entry.asynchronous) continue
      const scope = source.denyScope?.() ?? 'any'
      if (scope === 'any') return 'any'
      for (const filter of scope) filters.push(filter)
    }
    return filters
  }

  /** Per-delivery read checks only while some rule can deny a subscription: otherwise routing never asks. */
  #rescope (): void {
    const sources = this.#sourceScope
    this.#denyScope = sources === 'any' ? 'any' : [...new Set([...sources, ...this.#tokenScope.keys()])]
    if (this.#hooks) this.#hooks.readGuard = this.#denyScope === 'any' || this.#denyScope.length > 0 ? this.#readGuard : undefined
  }

  #mayDeny (topic: string): boolean {
    const scope = this.#denyScope
    if (scope === 'any') return true
    if (matchesAny(scope, topic)) return true
    if (!this.#mounted) return false
    // The rules see the topic without its mountpoint, which may end at any level.
    for (let at = topic.indexOf('/'); at >= 0; at = topic.indexOf('/', at + 1)) {
      if (matchesAny(scope, topic.slice(at + 1))) return true
    }
    return false
  }

  /** A read check, answered from the client's read cache while fresh (authorization.cache). */
  #mayRead (client: ClientInfo, topic: string, qos: number, now: number): boolean {
    const cache = this.#config.cache
    if (!cache.enable) return this.#readAllowed(client, topic, qos)
    let reads = this.#reads.get(client)
    if (!reads) this.#reads.set(client, reads = new Map())
    const hit = reads.get(topic)
    const expired = client.aclExpireAt !== undefined && now >= client.aclExpireAt
    if (hit !== undefined && hit.qos === qos && now - hit.at < cache.ttl && !(expired && hit.at < client.aclExpireAt!)) return hit.allowed
    const allowed = this.#readAllowed(client, topic, qos)
    reads.delete(topic)
    if (reads.size >= cache.max_size) reads.delete(reads.keys().next().value!)
    reads.set(topic, { allowed, qos, at: now })
    return allowed
  }

  /**
   * Only a rule's deny, or an expired token, refuses a read; no_match and the old token format's unlisted
   * topics leave the granted subscription be (a filter it covered covers the topics under it). Not counted
   * in culex_authz_total, which counts PUBLISH and SUBSCRIBE decisions.
   */
  #readAllowed (client: ClientInfo, topic: string, qos: number): boolean {
    if (client.isSuperuser) return true
    const request: AuthzRequest = { action: 'subscribe', topic: this.#unmount(client, topic), qos, retain: false }
    const decision = this.#tokenDecision(client, request, false) ?? this.#readFromSources(client, request)
    if (decision === undefined || decision.permission === 'allow') return true
    if (decision.source === 'token_acl' && decision.rule === NOT_LISTED) return true
    this.#log.info({ client: client.clientId, listener: client.listener, topic: request.topic, source: decision.source, rule: decision.rule },
      'authorization denied delivery through a wildcard subscription')
    return false
  }

  /** The synchronous sources' first answer; a source found answering with a promise is left out of read checks from then on. */
  #readFromSources (client: ClientInfo, request: AuthzRequest): AuthzDecision | undefined {
    const list = this.#list.asked
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!
      if (entry.asynchronous || entry.source!.asynchronous) continue
      let answer: SourceAnswer | Promise<SourceAnswer>
      try {
        answer = entry.source!.authorize(client, request)
      } catch {
        continue
      }
      if (answer instanceof Promise) {
        answer.catch(() => undefined)
        entry.asynchronous = true
        this.#log.notice({ source: entry.id }, `authorization source ${entry.id} answers asynchronously: it is asked at PUBLISH and SUBSCRIBE only, not per delivery`)
        this.#sourceScope = this.#scopeOf(list)
        this.#rescope()
        continue
      }
      if (answer) return { permission: answer.permission, source: entry.id, rule: answer.rule }
    }
    return undefined
  }
}

function uncached (decision: AuthzDecision): CachedDecision {
  return { ...decision, cached: false }
}

function remember (entries: Map<string, CacheEntry>, key: string, decision: AuthzDecision, at: number, maxSize: number): void {
  entries.delete(key)
  if (entries.size >= maxSize) entries.delete(entries.keys().next().value!)
  entries.set(key, { decision, at })
}

