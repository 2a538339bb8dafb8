// EMQX's raw rules, the JSON form of one rule that the built-in database API takes and that databases and
// services return: { permission, action, topic | topics, qos?, retain? }, with EMQX's spellings accepted
// (pub/sub, qos as 1 or "0,1", retain as 0/1/"true"/all). Stored one rule per topic, as EMQX does.
import { CulexError } from '../errors.js'
import { parseTopicText, type AclRule } from './acl-file.js'

/** One rule as stored and as the API shows it (EMQX's format_rule with rich actions). */
export interface StoredRule {
  permission: 'allow' | 'deny'
  action: 'publish' | 'subscribe' | 'all'
  topic: string
  qos: number[]
  retain: boolean | 'all'
}

const ALL_QOS = [0, 1, 2]
/** A topic longer than MQTT allows cannot match anything: refused rather than stored. */
const MAX_TOPIC_BYTES = 65535

const ACTIONS: Record<string, StoredRule['action']> = { pub: 'publish', publish: 'publish', sub: 'subscribe', subscribe: 'subscribe', all: 'all' }

function fail (where: string, why: string): never {
  throw new CulexError('CULEX_ERR_AUTHZ_RULE', `${where}: ${why}`)
}

function qosOf (value: unknown, where: string): number[] {
  if (value === undefined || value === null) return ALL_QOS
  const items = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : Array.isArray(value) ? value : [value]
  const out = items.map((q) => {
    const n = typeof q === 'string' && /^[0-2]$/.test(q) ? Number(q) : q
    if (n !== 0 && n !== 1 && n !== 2) fail(where, `qos takes 0, 1, 2 or a list of them, got ${JSON.stringify(value)}`)
    return n
  })
  if (out.length === 0) fail(where, 'qos is an empty list')
  return [...new Set(out)].sort()
}

function retainOf (value: unknown, where: string): boolean | 'all' {
  if (value === undefined || value === null || value === 'all') return 'all'
  if (value === true || value === 1 || value === '1' || value === 'true') return true
  if (value === false || value === 0 || value === '0' || value === 'false') return false
  return fail(where, `retain takes true, false or all, got ${JSON.stringify(value)}`)
}

function topicOf (value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') fail(where, `a topic is a non-empty string, got ${JSON.stringify(value)}`)
  if (Buffer.byteLength(value) > MAX_TOPIC_BYTES) fail(where, 'topic longer than 65535 bytes')
  return value
}

/** Parses one raw rule into one stored rule per topic; throws CULEX_ERR_AUTHZ_RULE naming `where` and the field. */
export function parseRawRule (raw: unknown, where: string): StoredRule[] {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(where, 'a rule is an object { permission, action, topic, qos?, retain? }')
  const r = raw as Record<string, unknown>
  if (r.permission !== 'allow' && r.permission !== 'deny') fail(where, `permission is allow or deny, got ${JSON.stringify(r.permission)}`)
  const action = typeof r.action === 'string' ? ACTIONS[r.action] : undefined
  if (!action) fail(where, `action is publish, subscribe or all, got ${JSON.stringify(r.action)}`)
  let topics: string[]
  if (r.topic !== undefined) topics = [topicOf(r.topic, where)]
  else if (Array.isArray(r.topics) && r.topics.length > 0) topics = r.topics.map((t) => topicOf(t, where))
  else fail(where, 'no topic (or topics)')
  const qos = qosOf(r.qos, where)
  const retain = retainOf(r.retain, where)
  return topics.map((topic) => ({ permission: r.permission as StoredRule['permission'], action, topic, qos, retain }))
}

/** Parses a list of raw rules (an API body's `rules`); `where` names the list in errors. */
export function parseRawRules (raw: unknown, where: string): StoredRule[] {
  if (!Array.isArray(raw)) fail(where, 'rules is a list')
  return raw.flatMap((rule, i) => parseRawRule(rule, `${where}[${i}]`))
}

/** A stored rule as the acl.conf matcher runs it; `origin` names it in the log. */
export function compileRule (rule: StoredRule, origin: string): AclRule {
  return {
    permission: rule.permission,
    who: { type: 'all' },
    action: { type: rule.action, ...(rule.qos.length < 3 ? { qos: rule.qos } : {}), retain: rule.retain },
    topics: [parseTopicText(rule.topic)],
    origin,
  }
}
