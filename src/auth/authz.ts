// Authorization with EMQX semantics: superusers bypass; the token ACL first, then each source in order
// (acl.conf rules: first match decides), then authorization.no_match. Decisions are cached per client.
import { readFileSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import type { AuthorizationConfig, AuthzSourceConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { ClientInfo, Hooks, HookMap, ReadGuard, TokenAcl, TokenAclRule } from '../mqtt/hooks.js'
import { hasWildcard, parseShared, topicMatches } from '../mqtt/topic.js'
import { parseAclFile, parseTopicText, AclParseError, type AclAction, type AclRule, type AclTopic, type Who } from './acl-file.js'

export interface AuthzRequest {
  action: 'publish' | 'subscribe'
  /** Topic name or filter as the client wrote it: no mountpoint, no `$share/group/`. */
  topic: string
  qos: number
  retain: boolean
}

/** A source's verdict and the rule that gave it; undefined when no rule matched. */
export type SourceAnswer = { permission: 'allow' | 'deny', rule: string } | undefined

/** An authorization source (EMQX `authorization.sources[]`); library users may add their own. */
export interface AuthzSource {
  readonly id: string
  authorize (client: ClientInfo, request: AuthzRequest): SourceAnswer
}

export interface AuthzDecision {
  permission: 'allow' | 'deny'
  /** `superuser`, `token_acl`, a source id, or `no_match`. */
  source: string
  rule: string | undefined
}

/** The acl.conf rules of one file source. */
export class FileSource implements AuthzSource {
  readonly id = 'file'
  constructor (readonly rules: AclRule[]) {}

  authorize (client: ClientInfo, request: AuthzRequest): SourceAnswer {
    for (const rule of this.rules) {
      if (matchWho(rule.who, client) && matchAction(rule.action, request) && matchTopics(rule.topics, client, request)) {
        return { permission: rule.permission, rule: rule.origin }
      }
    }
    return undefined
  }
}

/** Reads a file source's rules: inline `rules` text, or the file at `path`. */
export function loadFileSource (config: AuthzSourceConfig, index: number): FileSource {
  if (config.rules !== undefined) return new FileSource(parseAclFile(config.rules, `authorization.sources[${index}].rules`))
  let text: string
  try {
    text = readFileSync(config.path, 'utf8')
  } catch (err) {
    // etc/base.hocon names etc/acl.conf: from another directory the file is not found, and the message says where it looked.
    const where = isAbsolute(config.path) ? '' : ` (a relative path is read from the working directory, ${process.cwd()})`
    throw new CulexError('CULEX_ERR_ACL_PARSE', `${config.path}: cannot read the ACL file${where}: ${(err as Error).message}`, { cause: err })
  }
  return new FileSource(parseAclFile(text, config.path))
}

interface CacheEntry { decision: AuthzDecision; at: number }

/** A read check's answer for one topic: keyed by the topic string alone, which routing passes unchanged to every subscriber. */
interface ReadEntry { allowed: boolean; qos: number; at: number }

/** The denial of the old token ACL format (a whitelist) for what it does not list: a read check leaves it to the granted subscription. */
const NOT_LISTED = 'not in the token\'s lists'
const TOKEN_EXPIRED = 'token expired'

export class Authorizer {
  readonly sources: AuthzSource[]
  /** Decisions answered from the cache, and computed (for the API and tests). */
  cacheHits = 0
  cacheMisses = 0
  readonly #config: AuthorizationConfig
  readonly #log: Log
  readonly #mountpoint: (client: ClientInfo) => string
  readonly #cache = new WeakMap<ClientInfo, Map<string, CacheEntry>>()
  /** Read checks, cached apart from the decisions: a delivery builds no key and no request when it hits. */
  readonly #reads = new WeakMap<ClientInfo, Map<string, ReadEntry>>()
  /** Filters under which a source's rule may deny a subscription (placeholders widened); 'any': every topic. */
  #sourceScope: string[] | 'any' = []
  /** The same for the token ACLs of connected clients: filter → how many clients' tokens have it. */
  readonly #tokenScope = new Map<string, number>()
  /** Both: what a routed topic is matched against. */
  #denyScope: string[] | 'any' = []
  /** Set once a client with a mountpoint was authorized: deny filters are then tried below each level. */
  #mounted = false
  #hooks: Hooks | null = null
  readonly #readGuard: ReadGuard = {
    mayDeny: (topic) => this.#mayDeny(topic),
    mayRead: (client, topic, qos, now) => this.#mayRead(client, topic, qos, now),
  }

  constructor (config: AuthorizationConfig, log: Log, mountpoint: (client: ClientInfo) => string = () => '') {
    this.#config = config
    this.#log = log
    this.#mountpoint = mountpoint
    this.sources = config.sources.flatMap((s, i) => (s.enable ? [loadFileSource(s, i)] : []))
    this.#sourceScope = denyScope(this.sources)
    this.#rescope()
  }

  /** Asks this source after the configured ones. */
  addSource (source: AuthzSource): this {
    this.sources.push(source)
    this.#sourceScope = denyScope(this.sources)
    this.#rescope()
    return this
  }

  /** Whether anything but the token ACL can decide: without sources, no_match = allow leaves it to other hooks. */
  get #active (): boolean {
    return this.sources.length > 0 || this.#config.no_match === 'deny'
  }

  /** The decision for one request, from the client's cache when it is fresh. */
  authorize (client: ClientInfo, request: AuthzRequest): AuthzDecision & { cached: boolean } {
    const cache = this.#config.cache
    if (!cache.enable) return { ...this.#decide(client, request), cached: false }
    let entries = this.#cache.get(client)
    if (!entries) this.#cache.set(client, entries = new Map())
    const key = `${request.action}\u0000${request.qos}\u0000${request.retain ? 1 : 0}\u0000${request.topic}`
    const now = Date.now()
    const hit = entries.get(key)
    // A decision made while the token was valid is made again once it has expired (EMQX clears the cache).
    const stale = hit !== undefined && client.aclExpireAt !== undefined && hit.at < client.aclExpireAt && now >= client.aclExpireAt
    if (hit && !stale && now - hit.at < cache.ttl) {
      this.cacheHits++
      return { ...hit.decision, cached: true }
    }
    this.cacheMisses++
    const decision = this.#decide(client, request)
    entries.delete(key)
    if (entries.size >= cache.max_size) entries.delete(entries.keys().next().value!)
    entries.set(key, { decision, at: now })
    return { ...decision, cached: false }
  }

  #decide (client: ClientInfo, request: AuthzRequest): AuthzDecision {
    if (client.isSuperuser) return { permission: 'allow', source: 'superuser', rule: undefined }
    if (client.acl) {
      // As EMQX: an expired token's ACL denies everything; it does not hand over to the sources.
      if (client.aclExpireAt !== undefined && Date.now() >= client.aclExpireAt) return { permission: 'deny', source: 'token_acl', rule: TOKEN_EXPIRED }
      const answer = tokenAclAnswer(client.acl, client, request)
      if (answer) return { ...answer, source: 'token_acl' }
    }
    for (const source of this.sources) {
      const answer = source.authorize(client, request)
      if (answer) return { ...answer, source: source.id }
    }
    return { permission: this.#config.no_match, source: 'no_match', rule: undefined }
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
   * topics leave the granted subscription be (a filter it covered covers the topics under it).
   */
  #readAllowed (client: ClientInfo, topic: string, qos: number): boolean {
    const request: AuthzRequest = { action: 'subscribe', topic: this.#unmount(client, topic), qos, retain: false }
    const decision = this.#decide(client, request)
    if (decision.permission === 'allow' || decision.source === 'no_match') return true
    if (decision.source === 'token_acl' && decision.rule === NOT_LISTED) return true
    this.#log.info({ client: client.clientId, listener: client.listener, topic: request.topic, source: decision.source, rule: decision.rule },
      'authorization denied delivery through a wildcard subscription')
    return false
  }

  #hook (client: ClientInfo, mounted: AuthzRequest): 'allow' | 'deny' | 'disconnect' | undefined {
    if (!client.acl && !this.#active) return undefined
    const request = { ...mounted, topic: this.#unmount(client, mounted.topic) }
    const decision = this.authorize(client, request)
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
}

export { AclParseError }

// ---- token ACL ----

/**
 * EMQX's two formats. Old `{pub, sub, all}` lists are a whitelist: anything else is denied, so the token
 * always decides. New rules: the first match decides, no match asks the next source.
 */
export function tokenAclAnswer (acl: TokenAcl, client: ClientInfo, request: AuthzRequest): SourceAnswer {
  if (acl.format === 'lists') {
    const lists: [string, string[]][] = [['all', acl.all], [request.action === 'publish' ? 'pub' : 'sub', request.action === 'publish' ? acl.pub : acl.sub]]
    for (const [name, topics] of lists) {
      const at = topics.findIndex((t) => matchTopic(parseTopicText(t), client, request.topic))
      if (at >= 0) return { permission: 'allow', rule: `${name}[${at}]` }
    }
    return { permission: 'deny', rule: NOT_LISTED }
  }
  for (let i = 0; i < acl.rules.length; i++) {
    const r = acl.rules[i]!
    const action: AclAction = { type: r.action, ...(r.qos ? { qos: r.qos } : {}), ...(r.retain !== undefined ? { retain: r.retain } : {}) }
    if (matchAction(action, request) && matchTopic(parseTopicText(r.topic), client, request.topic)) {
      return { permission: r.permission, rule: `rules[${i}]` }
    }
  }
  return undefined
}

// ---- matching ----

function matchWho (who: Who, client: ClientInfo): boolean {
  switch (who.type) {
    case 'all': return true
    case 'username': return client.username !== undefined && matchValue(who.match, client.username)
    case 'clientid': return matchValue(who.match, client.clientId)
    case 'ipaddr': return matchAddress(who, client.remoteAddress)
    case 'and': return who.items.every((w) => matchWho(w, client))
    case 'or': return who.items.some((w) => matchWho(w, client))
  }
}

function matchValue (match: string | RegExp, value: string): boolean {
  return typeof match === 'string' ? match === value : match.test(value)
}

function matchAddress (who: Who & { type: 'ipaddr' }, address: string): boolean {
  const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
  return who.block.check(plain, plain.includes(':') ? 'ipv6' : 'ipv4')
}

function matchAction (action: AclAction, request: AuthzRequest): boolean {
  if (action.type !== 'all' && action.type !== request.action) return false
  if (action.qos && !action.qos.includes(request.qos)) return false
  // Retain conditions only concern PUBLISH.
  if (request.action === 'publish' && typeof action.retain === 'boolean' && action.retain !== request.retain) return false
  return true
}

function matchTopics (topics: AclTopic[] | undefined, client: ClientInfo, request: AuthzRequest): boolean {
  return topics === undefined || topics.some((t) => matchTopic(t, client, request.topic))
}

/** A rule filter matches a topic name, or a requested filter word by word as EMQX does (`t/+` covers `t/#`). */
function matchTopic (rule: AclTopic, client: ClientInfo, topic: string): boolean {
  const text = expand(rule.text, client)
  if (text === null) return false
  return rule.eq ? text === topic : topicMatches(text, topic)
}

/**
 * Expands placeholders, each once; null when one has no value for this client, or a value holding + or #
 * (the rule then matches nothing). An expanded value is literal text: no topic name holds a wildcard
 * character, and a requested filter's wildcard is not that text, so a client id `+` must not widen
 * `devices/${clientid}/#` to every device (Mosquitto denies such clients outright).
 */
export function expand (text: string, client: ClientInfo): string | null {
  if (!text.includes('${')) return text
  let unusable = false
  const out = text.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
    const value = placeholder(name, client)
    if (value === undefined || hasWildcard(value)) unusable = true
    return value ?? whole
  })
  return unusable ? null : out
}

/**
 * The filters under which the sources' deny rules may refuse a subscription, for the per-delivery read
 * check: a level holding a placeholder, and all after it (a value may hold `/`), becomes `#`. `{eq, F}`
 * counts only when F is a topic name. A source that is not an acl.conf may deny anything.
 */
function denyScope (sources: AuthzSource[]): string[] | 'any' {
  const filters: string[] = []
  for (const source of sources) {
    if (!(source instanceof FileSource)) return 'any'
    for (const rule of source.rules) {
      if (rule.permission !== 'deny' || rule.action.type === 'publish') continue
      if (rule.topics === undefined) return 'any'
      for (const topic of rule.topics) if (!(topic.eq && hasWildcard(topic.text))) filters.push(widen(topic.text))
    }
  }
  return filters
}

/** The filters under which a token's rules may deny a subscription, as denyScope. */
function tokenDenyFilters (rules: TokenAclRule[]): string[] {
  const filters: string[] = []
  for (const rule of rules) {
    if (rule.permission !== 'deny' || rule.action === 'publish') continue
    const topic = parseTopicText(rule.topic)
    if (!(topic.eq && hasWildcard(topic.text))) filters.push(widen(topic.text))
  }
  return filters
}

function matchesAny (filters: string[], topic: string): boolean {
  for (let i = 0; i < filters.length; i++) if (topicMatches(filters[i]!, topic)) return true
  return false
}

function widen (text: string): string {
  const levels = text.split('/')
  const at = levels.findIndex((level) => level.includes('${'))
  return at < 0 ? text : [...levels.slice(0, at), '#'].join('/')
}

function placeholder (name: string, client: ClientInfo): string | undefined {
  switch (name) {
    case 'clientid': return client.clientId
    case 'username': return client.username
    case 'cert_common_name': return client.cert?.cn || undefined
    case 'cert_subject': return client.cert?.subject || undefined
    case 'peerhost': return client.remoteAddress
    default: return name.startsWith('client_attrs.') ? client.attrs[name.slice('client_attrs.'.length)] : undefined
  }
}
