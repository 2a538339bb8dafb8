// authorization: EMQX's `authorization { sources = [ ... ] }`.
import { z } from 'zod'
import { bool, duration, int } from '../types.js'
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

export const AUTHZ_SOURCE_SCHEMAS = [fileAuthzSource, builtInDatabaseAuthzSource] as const

export const authzSource = z.discriminatedUnion('type', AUTHZ_SOURCE_SCHEMAS)

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
    .describe('Rule sources asked in order after the token ACL: { type = file, path = "etc/acl.conf" } or { type = file, rules = "..." }, { type = built_in_database } (rules managed through /api/v5/authorization/sources/built_in_database/rules).'),
})

export type AuthorizationConfig = z.output<typeof authorization>
export type AuthzSourceConfig = AuthorizationConfig['sources'][number]
export type AuthzCacheConfig = AuthorizationConfig['cache']
