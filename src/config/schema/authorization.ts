// authorization: EMQX's `authorization { sources = [ ... ] }`.
import { z } from 'zod'
import { bool, duration, int } from '../types.js'
import { httpConnectionShape, postgresConnectionShape, redisClusterShape, redisSentinelShape, redisSingleShape } from './backends.js'
import { section } from './marks.js'

const enable = () => bool().default(true).describe('Whether this source is asked.')

const fileAuthzSource = z.strictObject({
  type: z.literal('file'),
  enable: enable(),
  path: z.string().default('etc/acl.conf').describe('acl.conf file of Erlang-term rules, read at start and again on SIGHUP or when the file changes (a file with an error is refused: the old rules stay).'),
  rules: z.string().optional().describe('The acl.conf text inline; used instead of path when given.'),
})

const builtInDatabaseAuthzSource = z.strictObject({
  type: z.literal('built_in_database'),
  enable: enable(),
})

const httpAuthzSource = z.strictObject({
  type: z.literal('http'),
  enable: enable(),
  method: z.enum(['get', 'post']).default('post').describe('HTTP method of the request.'),
  url: z.string().min(1).describe('URL of the authorization service; its path and query take placeholders (${clientid}, ${username}, ${peerhost}, ${action}, ${topic}, ${qos}, ${retain}, ${client_attrs.NAME}, ...), URL-encoded.'),
  headers: z.record(z.string(), z.string()).default({}).describe('Request headers (placeholders allowed); a POST without content-type sends JSON.'),
  body: z.record(z.string(), z.unknown()).optional().describe('Request body fields (placeholders allowed): JSON or a form by content-type; with GET, query parameters.'),
  ...httpConnectionShape,
  request_timeout: duration().prefault('30s').describe('Timeout of one request; past it the source is passed over (ignore) for that request. EMQX\'s default, 30s, holds a client\'s PUBLISH that long: set less.'),
})

const redisCmd = z.string().min(1).describe('Redis command returning the client\'s rules as a hash: HGETALL mqtt_acl:${username}, each field a topic filter and each value an action (publish, subscribe, all) or JSON {"action": ..., "qos": [...], "retain": ...}; every rule allows.')
const redisAuthzSource = z.discriminatedUnion('redis_type', [
  z.strictObject({ type: z.literal('redis'), enable: enable(), cmd: redisCmd, ...redisSingleShape }),
  z.strictObject({ type: z.literal('redis'), enable: enable(), cmd: redisCmd, ...redisSentinelShape }),
  z.strictObject({ type: z.literal('redis'), enable: enable(), cmd: redisCmd, ...redisClusterShape }),
])

const postgresqlAuthzSource = z.strictObject({
  type: z.literal('postgresql'),
  enable: enable(),
  query: z.string().min(1).describe('SQL returning the client\'s rules, one per row: permission, action, topic (and optionally qos, retain), e.g. SELECT permission, action, topic FROM mqtt_acl WHERE username = ${username}. Placeholders are sent as bound parameters.'),
  ...postgresConnectionShape,
})

export const AUTHZ_SOURCE_SCHEMAS = [fileAuthzSource, builtInDatabaseAuthzSource, httpAuthzSource, redisAuthzSource, postgresqlAuthzSource] as const

export const authzSource = z.discriminatedUnion('type', AUTHZ_SOURCE_SCHEMAS)

/** Every source type, each once (the record's keys are checked against the schema's types). */
export const AUTHZ_SOURCE_TYPES = Object.keys({ file: 0, built_in_database: 0, http: 0, redis: 0, postgresql: 0 } satisfies Record<z.output<typeof authzSource>['type'], 0>) as readonly z.output<typeof authzSource>['type'][]

export type HttpAuthzSourceConfig = z.output<typeof httpAuthzSource>
export type RedisAuthzSourceConfig = z.output<typeof redisAuthzSource>
export type PostgresqlAuthzSourceConfig = z.output<typeof postgresqlAuthzSource>

export const authzCache = section({
  enable: bool().default(true).describe('Cache each client\'s decisions until it disconnects.'),
  max_size: int().pipe(z.number().min(1)).default(32).describe('Most cached decisions per client; the oldest goes first.'),
  ttl: duration().prefault('1m').describe('How long a cached decision is used.'),
  excludes: z.array(z.string()).default([]).describe('Topic filters whose decisions are never cached: a request whose topic (or filter) they match is asked of the sources every time.'),
})

export const authorization = section({
  no_match: z.enum(['allow', 'deny']).default('allow').describe('Decision when no source has a matching rule.'),
  deny_action: z.enum(['ignore', 'disconnect']).default('ignore').describe('On a denied PUBLISH or SUBSCRIBE: ignore (reason code 0x87/0x80, or drop) or disconnect the client.'),
  cache: authzCache,
  sources: z.array(authzSource).default([])
    .refine((sources) => new Set(sources.map((s) => s.type)).size === sources.length, { message: 'at most one source of each type' })
    .describe('Rule sources asked in order after the token ACL: { type = file, path = "etc/acl.conf" } or { type = file, rules = "..." }, { type = built_in_database } (rules managed through /api/v5/authorization/sources/built_in_database/rules), { type = http, url = "..." }, { type = redis, cmd = "HGETALL mqtt_acl:${username}" }, { type = postgresql, query = "..." }.'),
})

export type AuthorizationConfig = z.output<typeof authorization>
export type AuthzSourceConfig = AuthorizationConfig['sources'][number]
export type AuthzCacheConfig = AuthorizationConfig['cache']
