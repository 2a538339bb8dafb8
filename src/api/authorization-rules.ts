// /api/v5/authorization/sources/built_in_database/rules: EMQX's management of the built-in database's rules,
// per user name (`users`), per client id (`clients`) and for all clients (`all`). Rules are EMQX's raw rules
// ({ permission, action, topic, qos, retain }); they are kept in the data store (they survive a restart),
// made on every node of a cluster, and apply to connected clients at their next PUBLISH or SUBSCRIBE.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { ruleKey, type DatabaseSource, type RuleOwner } from '../auth/authz-database.js'
import { parseRawRules, type StoredRule } from '../auth/authz-raw-rule.js'
import { CulexError } from '../errors.js'
import { errors, NO_CONTENT, pageMeta, pageQuery, paginate, type ApiHost } from './common.js'

const BASE = '/api/v5/authorization/sources/built_in_database/rules'

const ruleSchema = {
  type: 'object',
  properties: {
    topic: { type: 'string', description: 'A topic filter; "eq t/#" matches the filter literally; placeholders ${clientid}, ${username}, ...' },
    permission: { type: 'string', enum: ['allow', 'deny'] },
    action: { type: 'string', description: 'publish, subscribe or all (pub and sub too)' },
    qos: { type: 'array', items: { type: 'integer' }, description: 'Default [0, 1, 2]' },
    retain: { description: 'true, false or all (the default); publish only' },
  },
} as const

const rulesList = { type: 'array', items: ruleSchema } as const

/** `users` ↔ username, `clients` ↔ clientid. */
const OWNERS = { users: 'username', clients: 'clientid' } as const satisfies Record<string, RuleOwner>

function databaseOf (host: ApiHost): DatabaseSource {
  const database = host.authz?.sourceList.database
  // EMQX: the routes answer only while a built_in_database source is configured.
  if (!database) throw new CulexError('CULEX_ERR_API_NOT_FOUND', 'Not found: built_in_database (no such authorization source)')
  return database
}

function ownerName (body: unknown, owner: RuleOwner, where: string): string {
  const name = (body as Record<string, unknown> | null)?.[owner]
  if (typeof name !== 'string' || name === '') throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `${where}: ${owner} is a non-empty string`)
  return name
}

function rulesOf (body: unknown, where: string): StoredRule[] {
  if (!body || typeof body !== 'object') throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `${where}: expected an object with rules`)
  return parseRawRules((body as { rules?: unknown }).rules, `${where}.rules`)
}

/** The four routes of one kind of owner (users or clients). */
function ownerRoutes (app: FastifyInstance, host: ApiHost, path: keyof typeof OWNERS): void {
  const tags = ['Authorization']
  const owner = OWNERS[path]
  const like = `like_${owner}`
  const entrySchema = { type: 'object', properties: { [owner]: { type: 'string' }, rules: rulesList } } as const
  const params = { type: 'object', properties: { [owner]: { type: 'string' } }, required: [owner] } as const
  const changed = async (database: DatabaseSource, name: string, rules: StoredRule[] | null, what: string) => {
    const key = ruleKey(owner, name)
    await database.put(key, rules)
    host.log.notice({ [owner]: name, rules: rules?.length ?? 0 }, `authorization rules ${what} through the management API`)
    host.cluster?.authzRulesChanged(key)
  }

  app.get<{ Querystring: { page: number, limit: number } & Record<string, string | number | undefined> }>(`${BASE}/${path}`, {
    schema: {
      tags,
      summary: `Rules per ${owner}, paged`,
      querystring: { type: 'object', properties: { ...pageQuery, [like]: { type: 'string', description: `Only ${owner}s containing this` } } },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: entrySchema }, meta: pageMeta } }, ...errors(400, 404) },
    },
  }, async (request) => {
    const { page, limit } = request.query
    const filter = request.query[like] as string | undefined
    const sets = databaseOf(host).list(owner, filter).map((s) => ({ [owner]: s.name, rules: s.rules }))
    return paginate(sets, page, limit)
  })

  app.post<{ Body: unknown }>(`${BASE}/${path}`, {
    schema: {
      tags,
      summary: `Add the rules of ${owner}s that have none yet`,
      body: { type: 'array', items: { type: 'object', additionalProperties: true } },
      response: { 204: NO_CONTENT, ...errors(400, 404, 409) },
    },
  }, async (request, reply) => {
    const database = databaseOf(host)
    const entries = (request.body as unknown[]).map((entry, i) => ({ name: ownerName(entry, owner, `[${i}]`), rules: rulesOf(entry, `[${i}]`) }))
    const exist = entries.filter((e) => database.get(ruleKey(owner, e.name)) !== undefined).map((e) => e.name)
    if (exist.length > 0) throw new CulexError('CULEX_ERR_API_EXISTS', `${path === 'users' ? 'Users' : 'Clients'} '${exist.join(',')}' already exist`)
    for (const e of entries) await changed(database, e.name, e.rules, 'added')
    return reply.code(204).send()
  })

  app.get<{ Params: Record<string, string> }>(`${BASE}/${path}/:${owner}`, {
    schema: { tags, summary: `The rules of one ${owner}`, params, response: { 200: entrySchema, ...errors(404) } },
  }, async (request) => {
    const name = request.params[owner]!
    const rules = databaseOf(host).get(ruleKey(owner, name))
    if (!rules) throw new CulexError('CULEX_ERR_API_NOT_FOUND', 'Not Found')
    return { [owner]: name, rules }
  })

  app.put<{ Params: Record<string, string>, Body: unknown }>(`${BASE}/${path}/:${owner}`, {
    schema: { tags, summary: `Set the rules of one ${owner}`, params, body: { type: 'object', additionalProperties: true }, response: { 204: NO_CONTENT, ...errors(400, 404) } },
  }, async (request, reply) => {
    const database = databaseOf(host)
    const name = request.params[owner]!
    const given = (request.body as Record<string, unknown> | null)?.[owner]
    if (given !== undefined && given !== name) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `the body's ${owner} ${JSON.stringify(given)} is not the one in the path`)
    await changed(database, name, rulesOf(request.body, 'body'), 'set')
    return reply.code(204).send()
  })

  app.delete<{ Params: Record<string, string> }>(`${BASE}/${path}/:${owner}`, {
    schema: { tags, summary: `Remove the rules of one ${owner}`, params, response: { 204: NO_CONTENT, ...errors(404) } },
  }, async (request, reply) => {
    const database = databaseOf(host)
    const name = request.params[owner]!
    if (database.get(ruleKey(owner, name)) === undefined) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `${owner === 'username' ? 'Username' : 'ClientID'} Not Found`)
    await changed(database, name, null, 'removed')
    return reply.code(204).send()
  })
}

export const authorizationRuleRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const tags = ['Authorization']
  ownerRoutes(app, host, 'users')
  ownerRoutes(app, host, 'clients')
  const all = ruleKey('all')
  const setAll = async (rules: StoredRule[], what: string) => {
    await databaseOf(host).put(all, rules)
    host.log.notice({ rules: rules.length }, `authorization rules for all clients ${what} through the management API`)
    host.cluster?.authzRulesChanged(all)
  }

  app.get(`${BASE}/all`, {
    schema: { tags, summary: 'The rules for all clients (tried after a client\'s own and its user name\'s)', response: { 200: { type: 'object', properties: { rules: rulesList } }, ...errors(404) } },
  }, async () => ({ rules: databaseOf(host).get(all) ?? [] }))

  app.post<{ Body: unknown }>(`${BASE}/all`, {
    schema: { tags, summary: 'Set the rules for all clients', body: { type: 'object', additionalProperties: true }, response: { 204: NO_CONTENT, ...errors(400, 404) } },
  }, async (request, reply) => {
    databaseOf(host)
    await setAll(rulesOf(request.body, 'body'), 'set')
    return reply.code(204).send()
  })

  app.delete(`${BASE}/all`, {
    schema: { tags, summary: 'Remove the rules for all clients', response: { 204: NO_CONTENT, ...errors(404) } },
  }, async (_request, reply) => {
    databaseOf(host)
    await setAll([], 'removed')
    return reply.code(204).send()
  })

  app.delete(BASE, {
    schema: { tags, summary: 'Remove every rule (the source must be disabled first, as EMQX asks)', response: { 204: NO_CONTENT, ...errors(400, 404) } },
  }, async (_request, reply) => {
    const database = databaseOf(host)
    if (host.authz!.sourceList.find('built_in_database')?.config?.enable) {
      throw new CulexError('CULEX_ERR_API_BAD_REQUEST', '\'built_in_database\' type source must be disabled before purge.')
    }
    await database.purge()
    host.log.notice('every built-in database authorization rule removed through the management API')
    host.cluster?.authzRulesPurged()
    return reply.code(204).send()
  })
}
