// Rule matching shared by the sources: who, action (qos, retain), topics with placeholders, the token
// ACL's two formats, and the filters under which rules may deny a subscription (for read checks).
import type { ClientInfo, TokenAcl, TokenAclRule } from '../mqtt/hooks.js'
import { hasWildcard, topicMatches } from '../mqtt/topic.js'
import { parseTopicText, type AclAction, type AclRule, type AclTopic, type Who } from './acl-file.js'
import type { AuthzRequest, SourceAnswer } from './authz-types.js'

/** The denial of the old token ACL format (a whitelist) for what it does not list: a read check leaves it to the granted subscription. */
export const NOT_LISTED = 'not in the token\'s lists'

/** The first of `rules` that matches decides; undefined when none does. */
export function rulesAnswer (rules: readonly AclRule[], client: ClientInfo, request: AuthzRequest): SourceAnswer {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!
    if (matchWho(rule.who, client) && matchAction(rule.action, request) && matchTopics(rule.topics, client, request)) {
      return { permission: rule.permission, rule: rule.origin }
    }
  }
  return undefined
}

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

// ---- read-check scopes ----

/**
 * The filters under which these rules may deny a subscription, for the per-delivery read check: a level
 * holding a placeholder, and all after it (a value may hold `/`), becomes `#`. `{eq, F}` counts only when F
 * is a topic name. A deny rule for every topic: 'any'.
 */
export function rulesDenyScope (rules: Iterable<AclRule>, into: string[] = []): string[] | 'any' {
  for (const rule of rules) {
    if (rule.permission !== 'deny' || rule.action.type === 'publish') continue
    if (rule.topics === undefined) return 'any'
    for (const topic of rule.topics) if (!(topic.eq && hasWildcard(topic.text))) into.push(widen(topic.text))
  }
  return into
}

/** The filters under which a token's rules may deny a subscription, as rulesDenyScope. */
export function tokenDenyFilters (rules: TokenAclRule[]): string[] {
  const filters: string[] = []
  for (const rule of rules) {
    if (rule.permission !== 'deny' || rule.action === 'publish') continue
    const topic = parseTopicText(rule.topic)
    if (!(topic.eq && hasWildcard(topic.text))) filters.push(widen(topic.text))
  }
  return filters
}

export function matchesAny (filters: readonly string[], topic: string): boolean {
  for (let i = 0; i < filters.length; i++) if (topicMatches(filters[i]!, topic)) return true
  return false
}

function widen (text: string): string {
  const levels = text.split('/')
  const at = levels.findIndex((level) => level.includes('${'))
  return at < 0 ? text : [...levels.slice(0, at), '#'].join('/')
}
