// authorization: EMQX's `authorization { sources = [ ... ] }`.
import { z } from 'zod'
import { bool, duration, int } from '../types.js'
import { section, notYet } from './marks.js'

const fileAuthzSource = z.strictObject({
  type: z.literal('file'),
  enable: bool().default(true).describe('Whether this source is asked.'),
  path: z.string().default('etc/acl.conf').describe('acl.conf file of Erlang-term rules, read at start.'),
  rules: z.string().optional().describe('The acl.conf text inline; used instead of path when given.'),
})

export const AUTHZ_SOURCE_SCHEMAS = [fileAuthzSource] as const

export const authorization = section({
  no_match: z.enum(['allow', 'deny']).default('allow').describe('Decision when no source has a matching rule.'),
  deny_action: z.enum(['ignore', 'disconnect']).default('ignore').describe('On a denied PUBLISH or SUBSCRIBE: ignore (reason code 0x87/0x80, or drop) or disconnect the client.'),
  cache: section({
    enable: bool().default(true).describe('Cache each client\'s decisions until it disconnects.'),
    max_size: int().pipe(z.number().min(1)).default(32).describe('Most cached decisions per client; the oldest goes first.'),
    ttl: duration().prefault('1m').describe('How long a cached decision is used.'),
    excludes: notYet(z.array(z.string()).optional(), 'authorization cache exclusions', 'Topic filters whose decisions are never cached.'),
  }),
  sources: z.array(z.discriminatedUnion('type', AUTHZ_SOURCE_SCHEMAS)).default([])
    .describe('Rule sources asked in order after the token ACL: { type = file, path = "etc/acl.conf" } or { type = file, rules = "..." }.'),
})

export type AuthorizationConfig = z.output<typeof authorization>
export type AuthzSourceConfig = AuthorizationConfig['sources'][number]
