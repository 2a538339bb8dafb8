// The sources that ask a service: http (EMQX's HTTP authorization: the service answers
// {"result": "allow" | "deny" | "ignore"}, 204 allows), redis (a hash of topic filter → action or JSON
// {action, qos, retain}, every entry an allow, as EMQX 5.8 reads it) and postgresql (rows of permission,
// action, topic[, qos, retain]). They answer with a promise: asked at PUBLISH and SUBSCRIBE, never per
// delivery. A failure (unreachable, timeout, error status, unreadable answer) rejects: the authorizer passes
// the source over (ignore) and counts it; the backend logs it once per cause.
import type { HttpAuthzSourceConfig, PostgresqlAuthzSourceConfig, RedisAuthzSourceConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { ClientInfo } from '../mqtt/hooks.js'
import { BackendError } from './backends/health.js'
import { HttpBackend, HttpRequestTemplate } from './backends/http.js'
import { AUTHZ_PLACEHOLDERS, clientLookup, type Lookup } from './backends/placeholders.js'
import { PostgresBackend, prepareQuery, type PreparedQuery } from './backends/postgres.js'
import { parseCommand, RedisBackend, type RedisCommand } from './backends/redis.js'
import { rulesAnswer } from './authz-match.js'
import { compileRule, parseRawRule, type StoredRule } from './authz-raw-rule.js'
import type { AuthzRequest, AuthzSource, SourceAnswer } from './authz-types.js'

function lookupFor (client: ClientInfo, request: AuthzRequest): Lookup {
  return clientLookup(client, { action: request.action, topic: request.topic, qos: request.qos, retain: request.retain })
}

function warnDisallowed (log: Log, where: string, names: readonly string[]): void {
  if (names.length > 0) log.warning({ source: where, placeholders: names.join(',') }, `${where}: placeholders ${names.map((n) => `\${${n}}`).join(', ')} are not available to authorization and stay as written`)
}

/** How a backend's entries (hash fields, rows) read as rules, and how each is named in the log. */
interface RuleShape<T> {
  /** The rule object of an entry, for parseRawRule; throws when the entry cannot be one. */
  raw (entry: T): unknown
  /** Names the entry in parse errors. */
  where (entry: T): string
  /** The entry as the warning quotes it (and the key it is warned about once by). */
  text (entry: T): string
  /** Names a rule the entry gave, as matched rules are named in the log. */
  origin (entry: T, rule: StoredRule): string
}

/**
 * The rules a service answered with, asked in order until one matches. An entry that cannot be used is
 * skipped, with one warning per distinct entry (at most MAX_BAD of them).
 */
class BackendRules<T> {
  static readonly MAX_BAD = 1000
  readonly #seen = new Set<string>()
  readonly #log: Log
  readonly #where: string
  readonly #shape: RuleShape<T>

  constructor (log: Log, where: string, shape: RuleShape<T>) {
    this.#log = log
    this.#where = where
    this.#shape = shape
  }

  answer (entries: Iterable<T>, client: ClientInfo, request: AuthzRequest): SourceAnswer {
    const shape = this.#shape
    for (const entry of entries) {
      let rules: StoredRule[]
      try {
        rules = parseRawRule(shape.raw(entry), shape.where(entry))
      } catch (err) {
        this.#skip(shape.text(entry), err)
        continue
      }
      const answer = rulesAnswer(rules.map((r) => compileRule(r, shape.origin(entry, r))), client, request)
      if (answer) return answer
    }
    return undefined
  }

  #skip (text: string, err: unknown): void {
    if (this.#seen.has(text) || this.#seen.size >= BackendRules.MAX_BAD) return
    this.#seen.add(text)
    this.#log.warning({ source: this.#where, rule: text.slice(0, 200) }, `${this.#where}: a rule from the backend is skipped: ${(err as Error).message}`)
  }
}

export class HttpSource implements AuthzSource {
  readonly id = 'http'
  readonly asynchronous = true
  readonly #template: HttpRequestTemplate
  readonly #backend: HttpBackend

  constructor (config: HttpAuthzSourceConfig, log: Log, where: string) {
    this.#template = new HttpRequestTemplate({ method: config.method, url: config.url, headers: config.headers, body: config.body }, where, AUTHZ_PLACEHOLDERS)
    warnDisallowed(log, where, this.#template.disallowed)
    this.#backend = new HttpBackend({ ...config, origin: this.#template.origin }, log, where)
  }

  async authorize (client: ClientInfo, request: AuthzRequest): Promise<SourceAnswer> {
    const req = this.#template.build(lookupFor(client, request))
    const res = await this.#backend.request(req)
    if (res.status === 204) {
      this.#backend.health.ok()
      return { permission: 'allow', rule: 'http 204' }
    }
    const where = `${this.#backend.origin}${req.path.split('?')[0]}`
    if (res.status !== 200) throw this.#failure(`${where} answered HTTP ${res.status}`)
    const result = resultOf(res.contentType, res.body)
    if (result === undefined) throw this.#failure(`${where} answered 200 without {"result": "allow" | "deny" | "ignore"} (content-type ${res.contentType || 'none'})`)
    // The backend marks only unreachable services; an answer the source understood is what makes it healthy again.
    this.#backend.health.ok()
    return result === 'ignore' ? undefined : { permission: result, rule: `http ${result}` }
  }

  #failure (reason: string): BackendError {
    this.#backend.health.failed(reason)
    return new BackendError(reason)
  }

  async close (): Promise<void> {
    await this.#backend.close()
  }
}

/** EMQX's parse_http_resp_body: JSON, or a form, holding result = allow | deny | ignore. */
function resultOf (contentType: string, body: string): 'allow' | 'deny' | 'ignore' | undefined {
  const type = (contentType || 'application/json').split(';')[0]!.trim().toLowerCase()
  let result: unknown
  if (type === 'application/json') {
    try {
      result = (JSON.parse(body) as { result?: unknown } | null)?.result
    } catch {
      return undefined
    }
  } else if (type === 'application/x-www-form-urlencoded') {
    result = new URLSearchParams(body).get('result')
  }
  return result === 'allow' || result === 'deny' || result === 'ignore' ? result : undefined
}

/** A hash field (a topic filter) and its value (an action, or JSON), every one an allow. */
const REDIS_RULE: RuleShape<[string, string]> = {
  raw: ([topic, value]) => ({ ...redisRule(value), permission: 'allow', topic }),
  where: ([topic]) => `redis ${topic}`,
  text: ([topic, value]) => `${topic} ${value}`,
  origin: ([topic]) => `redis ${topic}`,
}

export class RedisSource implements AuthzSource {
  readonly id = 'redis'
  readonly asynchronous = true
  readonly #command: RedisCommand
  readonly #backend: RedisBackend
  readonly #rules: BackendRules<[string, string]>

  constructor (config: RedisAuthzSourceConfig, log: Log, where: string) {
    this.#command = parseCommand(config.cmd, `${where}.cmd`, AUTHZ_PLACEHOLDERS)
    // As EMQX: the rules are a hash.
    if (this.#command.name !== 'hgetall' && this.#command.name !== 'hmget') {
      throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}.cmd: expected HGETALL (or HMGET), got ${this.#command.name.toUpperCase()}`)
    }
    warnDisallowed(log, where, this.#command.args.flatMap((a) => a.disallowed))
    this.#backend = new RedisBackend(config, log, where)
    this.#rules = new BackendRules(log, where, REDIS_RULE)
  }

  async authorize (client: ClientInfo, request: AuthzRequest): Promise<SourceAnswer> {
    const reply = await this.#backend.run(this.#command, lookupFor(client, request))
    return this.#rules.answer(hashEntries(reply), client, request)
  }

  async close (): Promise<void> {
    await this.#backend.close()
  }
}

/** The field/value pairs of a reply: ioredis answers HGETALL with an object, other commands with a flat list. */
function hashEntries (reply: unknown): [string, string][] {
  if (Array.isArray(reply)) {
    const pairs: [string, string][] = []
    for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), reply[i + 1] === null ? '' : String(reply[i + 1])])
    return pairs
  }
  if (reply !== null && typeof reply === 'object') return Object.entries(reply as Record<string, unknown>).map(([k, v]) => [k, String(v)])
  return []
}

/** A hash value as EMQX 5.8 reads it: publish, subscribe, all, or JSON with action, qos and retain. */
function redisRule (value: string): Record<string, unknown> {
  if (value === 'publish' || value === 'subscribe' || value === 'all') return { action: value }
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    throw new CulexError('CULEX_ERR_AUTHZ_RULE', `${JSON.stringify(value)} is neither an action nor JSON`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CulexError('CULEX_ERR_AUTHZ_RULE', `${JSON.stringify(value)} is not a JSON object`)
  const { action, qos, retain } = parsed as Record<string, unknown>
  return { action, qos, retain }
}

/** A row's permission, action, topic, qos and retain columns (others ignored). */
const POSTGRESQL_RULE: RuleShape<Record<string, unknown>> = {
  raw: ({ permission, action, topic, qos, retain }) => ({ permission, action, topic, qos, retain }),
  where: () => 'postgresql row',
  text: (row) => JSON.stringify(POSTGRESQL_RULE.raw(row)),
  origin: (_row, r) => `postgresql ${r.permission} ${r.action} ${r.topic}`,
}

export class PostgresqlSource implements AuthzSource {
  readonly id = 'postgresql'
  readonly asynchronous = true
  readonly #query: PreparedQuery
  readonly #backend: PostgresBackend
  readonly #rules: BackendRules<Record<string, unknown>>

  constructor (config: PostgresqlAuthzSourceConfig, log: Log, where: string) {
    this.#query = prepareQuery(config.query, AUTHZ_PLACEHOLDERS)
    warnDisallowed(log, where, this.#query.disallowed)
    this.#backend = new PostgresBackend(config, log, where)
    this.#rules = new BackendRules(log, where, POSTGRESQL_RULE)
  }

  async authorize (client: ClientInfo, request: AuthzRequest): Promise<SourceAnswer> {
    const rows = await this.#backend.query(this.#query, lookupFor(client, request))
    return this.#rules.answer(rows, client, request)
  }

  async close (): Promise<void> {
    await this.#backend.close()
  }
}
