// /api/v5/authorization: EMQX's management of the authorization sources (list, add at the front, show,
// replace, remove, move, status), the settings (no_match, deny_action, cache) and the cache. The file
// source shows and takes its rules as text; text with an error is refused with its line and column and the
// rules in force stay. Every change drops the cached decisions of connected clients, on every node of the
// cluster. Changes to the sources and settings live in memory, as the authenticator chain's do: a restart
// reads the configuration file again (rules text set here stays in node.data_dir/authz/acl.conf).
import type { FastifyPluginAsync } from 'fastify'
import type { Authorizer, AuthzSettings } from '../auth/authz.js'
import { AclParseError } from '../auth/acl-file.js'
import { fileSourceView, FileSource } from '../auth/authz-file.js'
import type { SourceEntry, SourcePosition } from '../auth/authz-sources.js'
import { orderMessage } from '../auth/order.js'
import { AUTHZ_SOURCE_TYPES, authzCache, authzSource, type AuthzSourceConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import { z } from 'zod'
import type { Role } from './auth.js'
import { orderSchema, parseOrder, statusAnswer, statusSchema } from './auth-common.js'
import { errors, NO_CONTENT, type ApiHost } from './common.js'
import { maskSecrets, unmaskSecrets } from './mask.js'

const IN_MEMORY = 'Kept in memory, as EMQX keeps it in its cluster configuration: a restart reads the configuration file again. In a cluster the change is made on every running node.'

const sourceSchema = {
  type: 'object',
  additionalProperties: true,
  description: 'One source, as an `authorization.sources` entry of the configuration: { "type": "file", "enable": true, "rules": "{allow, all}." }, { "type": "built_in_database", "enable": true }.',
} as const

const typeParam = { type: 'object', properties: { type: { type: 'string', description: 'Source type: file, built_in_database, http, redis, postgresql' } }, required: ['type'] } as const

const settingsSchema = {
  type: 'object',
  properties: {
    no_match: { type: 'string', enum: ['allow', 'deny'] },
    deny_action: { type: 'string', enum: ['ignore', 'disconnect'] },
    cache: {
      type: 'object',
      additionalProperties: true,
      properties: {
        enable: { type: 'boolean' },
        max_size: { type: 'integer' },
        ttl: { type: 'string', description: 'A duration: 1m, 30s, ...' },
        excludes: { type: 'array', items: { type: 'string' } },
      },
    },
  },
} as const

const orderBody = orderSchema('type', `Source type: ${AUTHZ_SOURCE_TYPES.join(', ')}`, '[{ "type": "file" }, { "type": "built_in_database" }]')
const authzStatus = statusSchema(['total', 'allow', 'deny', 'nomatch'], 'connected; disconnected while the source\'s last request failed')

/** The types of an order body; 400 for a body that is not one, or a type no source has. */
function parseTypes (body: unknown): string[] {
  const types = parseOrder(body, 'type')
  const unknown = types.filter((type) => !(AUTHZ_SOURCE_TYPES as readonly string[]).includes(type))
  if (unknown.length > 0) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `Unknown authorization source types: ${unknown.join(', ')} (expected ${AUTHZ_SOURCE_TYPES.join(', ')})`)
  return types
}

const settingsBody = z.strictObject({
  no_match: z.enum(['allow', 'deny']),
  deny_action: z.enum(['ignore', 'disconnect']),
  cache: authzCache,
})

function authzOf (host: ApiHost): Authorizer {
  if (!host.authz) throw new CulexError('CULEX_ERR_API_UNAVAILABLE', 'no authorization')
  return host.authz
}

function issues (error: z.ZodError, what: string): string {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : what}: ${i.message}`).join('; ')
}

function parseSource (body: unknown): AuthzSourceConfig {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', 'expected one source object')
  const parsed = authzSource.safeParse(body)
  if (!parsed.success) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', issues(parsed.error, 'source'))
  return parsed.data
}

/** A source's rules that cannot be read or parsed: 400 with the file (or `rules`), line and column. */
function refused (err: unknown): never {
  if (err instanceof AclParseError || (err instanceof CulexError && (err.code === 'CULEX_ERR_ACL_PARSE' || err.code === 'CULEX_ERR_BACKEND_CONFIG'))) {
    throw new CulexError('CULEX_ERR_API_BAD_REQUEST', (err as Error).message, { cause: err })
  }
  throw err
}

export function parsePosition (position: unknown): SourcePosition {
  if (position === 'front' || position === 'rear') return position
  if (typeof position === 'string') {
    const at = position.indexOf(':')
    const where = position.slice(0, at)
    const ref = position.slice(at + 1)
    if (at > 0 && ref !== '' && where === 'before') return { before: ref }
    if (at > 0 && ref !== '' && where === 'after') return { after: ref }
  }
  throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `bad position ${JSON.stringify(position)}: expected front, rear, before:<type> or after:<type>`)
}

/** A source as EMQX shows it: the file source's rules as text, without its path; secrets as "******", durations as text. */
function view (entry: SourceEntry, role: Role): Record<string, unknown> {
  const config = entry.config!
  if (config.type === 'file') return fileSourceView(entry.source instanceof FileSource ? entry.source : null, config)
  const shown = maskSecrets(config, role) as Record<string, unknown>
  for (const key of ['request_timeout', 'connect_timeout']) if (typeof shown[key] === 'number') shown[key] = durationText(shown[key])
  return shown
}

/** A duration in milliseconds written as EMQX writes one: 1m, 30s, 1500ms. */
export function durationText (ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}

function settingsView (settings: AuthzSettings): Record<string, unknown> {
  return { ...settings, cache: { ...settings.cache, ttl: durationText(settings.cache.ttl) } }
}

function found (authz: Authorizer, type: string): SourceEntry {
  const entry = authz.sourceList.find(type)
  if (!entry) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `Not found: ${type}`)
  return entry
}

export const authorizationRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const tags = ['Authorization']
  const changed = (what: string, type?: string) => {
    host.log.notice({ ...(type ? { source: type } : {}) }, `authorization ${what} through the management API`)
    host.cluster?.authzSourcesChanged()
  }

  app.get('/api/v5/authorization/sources', {
    schema: { tags, summary: 'The authorization sources, in the order they are asked', response: { 200: { type: 'object', properties: { sources: { type: 'array', items: sourceSchema } } } } },
  }, async (request) => ({ sources: authzOf(host).sourceList.configured().map((e) => view(e, request.apiRole)) }))

  app.post<{ Body: unknown }>('/api/v5/authorization/sources', {
    schema: { tags, summary: 'Add a source, asked first (as EMQX)', description: IN_MEMORY, body: sourceSchema, response: { 204: NO_CONTENT, ...errors(400) } },
  }, async (request, reply) => {
    const list = authzOf(host).sourceList
    const config = parseSource(request.body)
    if (list.find(config.type)) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `a ${config.type} source exists already: change it with PUT /api/v5/authorization/sources/${config.type}`)
    try {
      list.add(await list.materialize(config), 'front')
    } catch (err) {
      refused(err)
    }
    changed('source added', config.type)
    return reply.code(204).send()
  })

  app.get<{ Params: { type: string } }>('/api/v5/authorization/sources/:type', {
    schema: { tags, summary: 'One source', params: typeParam, response: { 200: sourceSchema, ...errors(404) } },
  }, async (request) => view(found(authzOf(host), request.params.type), request.apiRole))

  app.put<{ Params: { type: string }, Body: unknown }>('/api/v5/authorization/sources/:type', {
    schema: {
      tags,
      summary: 'Replace a source, keeping its place',
      description: `The file source takes its rules as text ("rules"), written to node.data_dir/authz/acl.conf; a text with an error is refused (400, with its line and column) and the rules in force stay. ${IN_MEMORY}`,
      params: typeParam,
      body: sourceSchema,
      response: { 204: NO_CONTENT, ...errors(400, 404) },
    },
  }, async (request, reply) => {
    const type = request.params.type
    const list = authzOf(host).sourceList
    const current = found(authzOf(host), type).config
    // "******" where the answer masked a secret keeps the value in force.
    const config = parseSource(unmaskSecrets({ type, ...(request.body as object) }, current))
    if (config.type !== type) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `Type mismatch: the body describes a ${config.type} source, not ${type}`)
    try {
      list.replace(await list.materialize(config))
    } catch (err) {
      refused(err)
    }
    changed('source changed', type)
    return reply.code(204).send()
  })

  app.delete<{ Params: { type: string } }>('/api/v5/authorization/sources/:type', {
    schema: { tags, summary: 'Remove a source (a built_in_database source\'s rules with it, as EMQX)', description: IN_MEMORY, params: typeParam, response: { 204: NO_CONTENT, ...errors(404) } },
  }, async (request, reply) => {
    const type = request.params.type
    if (!(await authzOf(host).sourceList.remove(type))) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `Not found: ${type}`)
    changed('source removed', type)
    return reply.code(204).send()
  })

  app.post<{ Params: { type: string }, Body: { position?: unknown } }>('/api/v5/authorization/sources/:type/move', {
    schema: {
      tags,
      summary: 'Move a source',
      description: IN_MEMORY,
      params: typeParam,
      body: { type: 'object', required: ['position'], properties: { position: { type: 'string', description: 'front, rear, before:<type> or after:<type>' } } },
      response: { 204: NO_CONTENT, ...errors(400, 404) },
    },
  }, async (request, reply) => {
    const type = request.params.type
    const authz = authzOf(host)
    found(authz, type)
    const position = parsePosition(request.body.position)
    if (!authz.sourceList.move(type, position)) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `Not found: ${typeof position === 'object' ? Object.values(position)[0] : type}`)
    changed(`source moved to ${String(request.body.position)}`, type)
    return reply.code(204).send()
  })

  app.put<{ Body: unknown }>('/api/v5/authorization/sources/order', {
    schema: {
      tags,
      summary: 'Put the sources in a new order',
      description: `The body names every configured source exactly once; a type no source has, one named twice or one left out is refused (400) and the order stays. ${IN_MEMORY}`,
      body: orderBody,
      response: { 204: NO_CONTENT, ...errors(400) },
    },
  }, async (request, reply) => {
    const types = parseTypes(request.body)
    const problem = authzOf(host).sourceList.reorder(types)
    if (problem) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', orderMessage(problem, 'Authorization sources'))
    changed(`sources ordered ${types.join(', ')}`)
    return reply.code(204).send()
  })

  app.get<{ Params: { type: string } }>('/api/v5/authorization/sources/:type/status', {
    schema: { tags, summary: 'What a source answered on this node, and whether it answers', params: typeParam, response: { 200: authzStatus, ...errors(404) } },
  }, async (request) => {
    const authz = authzOf(host)
    const entry = found(authz, request.params.type)
    const { allow, deny, nomatch, error } = entry.counts
    const metrics = { total: allow + deny + nomatch + error, allow, deny, nomatch, ...authz.rates.rate(entry.id) }
    return statusAnswer(host.config.node.name, metrics, entry.source !== null && entry.failure === null ? 'connected' : 'disconnected')
  })

  app.get('/api/v5/authorization/settings', {
    schema: { tags, summary: 'no_match, deny_action and cache', response: { 200: settingsSchema } },
  }, async () => settingsView(authzOf(host).settings))

  app.put<{ Body: unknown }>('/api/v5/authorization/settings', {
    schema: { tags, summary: 'Change no_match, deny_action and cache (all three, as EMQX); cached decisions go', description: IN_MEMORY, body: settingsSchema, response: { 200: settingsSchema, ...errors(400) } },
  }, async (request) => {
    const authz = authzOf(host)
    const parsed = settingsBody.safeParse(request.body)
    if (!parsed.success) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', issues(parsed.error, 'settings'))
    authz.setSettings(parsed.data)
    host.log.notice({ no_match: parsed.data.no_match, deny_action: parsed.data.deny_action, cache: parsed.data.cache.enable }, 'authorization settings changed through the management API')
    host.cluster?.authzSettingsChanged()
    return settingsView(authz.settings)
  })

  app.delete('/api/v5/authorization/cache', {
    schema: { tags, summary: 'Drop every client\'s cached decisions, on every node', response: { 204: NO_CONTENT } },
  }, async (_request, reply) => {
    authzOf(host).clearCache()
    host.log.notice('authorization cache cleared through the management API')
    host.cluster?.authzCacheCleared()
    return reply.code(204).send()
  })
}
