// Authorization with EMQX semantics: superusers bypass; the token ACL first, then each source in order
// (acl.conf rules: first match decides), then authorization.no_match. Decisions are cached per client.
import { readFileSync } from 'node:fs'
import type { AuthorizationConfig, AuthzSourceConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { ClientInfo, Hooks, HookMap, TokenAcl } from '../mqtt/hooks.js'
import { parseShared } from '../mqtt/topic.js'
import { topicMatches } from '../mqtt/topic.js'
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
    throw new CulexError('CULEX_ERR_ACL_PARSE', `${config.path}: cannot read the ACL file: ${(err as Error).message}`, { cause: err })
  }
  return new FileSource(parseAclFile(text, config.path))
}

interface CacheEntry { decision: AuthzDecision; at: number }

export class Authorizer {
  readonly sources: AuthzSource[]
  /** Decisions answered from the cache, and computed (for the API and tests). */
  cacheHits = 0
  cacheMisses = 0
  readonly #config: AuthorizationConfig
  readonly #log: Log
  readonly #mountpoint: (client: ClientInfo) => string
  readonly #cache = new WeakMap<ClientInfo, Map<string, CacheEntry>>()

  constructor (config: AuthorizationConfig, log: Log, mountpoint: (client: ClientInfo) => string = () => '') {
    this.#config = config
    this.#log = log
    this.#mountpoint = mountpoint
    this.sources = config.sources.flatMap((s, i) => (s.enable ? [loadFileSource(s, i)] : []))
  }

  /** Asks this source after the configured ones. */
  addSource (source: AuthzSource): this {
    this.sources.push(source)
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
    if (client.acl && !(client.aclExpireAt !== undefined && Date.now() >= client.aclExpireAt)) {
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
    hooks.add('clientDisconnected', (client) => this.forget(client))
  }

  #hook (client: ClientInfo, mounted: AuthzRequest): 'allow' | 'deny' | undefined {
    if (!client.acl && !this.#active) return undefined
    const request = { ...mounted, topic: this.#unmount(client, mounted.topic) }
    const decision = this.authorize(client, request)
    // no_match = allow leaves the last word to hooks added after this one.
    if (decision.permission === 'allow') return decision.source === 'no_match' ? undefined : 'allow'
    this.#log.info({
      client: client.clientId, listener: client.listener, action: request.action, topic: request.topic,
      source: decision.source, rule: decision.rule, cached: decision.cached,
    }, `authorization denied ${request.action}`)
    if (this.#config.deny_action === 'disconnect') {
      throw new CulexError('CULEX_ERR_MQTT_NOT_AUTHORIZED', `not authorized to ${request.action} ${JSON.stringify(request.topic)}`)
    }
    return 'deny'
  }

  /** As EMQX, rules see the topic the client wrote: without `$share/group/` and the listener mountpoint. */
  #unmount (client: ClientInfo, topic: string): string {
    const filter = parseShared(topic)?.filter ?? topic
    // The client's own, as wills are authorized after their connection has gone.
    const mountpoint = client.mountpoint ?? this.#mountpoint(client)
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
    return { permission: 'deny', rule: 'not in the token\'s lists' }
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

/** Expands placeholders; null when one has no value for this client (the rule then matches nothing). */
export function expand (text: string, client: ClientInfo): string | null {
  if (!text.includes('${')) return text
  let missing = false
  const out = text.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
    const value = placeholder(name, client)
    if (value === undefined) missing = true
    return value ?? whole
  })
  return missing ? null : out
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
