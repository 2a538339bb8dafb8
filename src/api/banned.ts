// /api/v5/banned: EMQX's ban list. A new ban refuses the matching clients at CONNECT (0x8A) and
// disconnects those already connected (0x98); without `until` a ban lasts a year, as in EMQX.
// In a cluster every change reaches every node.
import type { FastifyPluginAsync } from 'fastify'
import { BAN_KINDS, banTargetError, type Ban, type BanKind } from '../mqtt/banned.js'
import { CulexError } from '../errors.js'
import { errors, NO_CONTENT, pageMeta, pageQuery, paginate, rfc3339, type ApiHost } from './common.js'

/** EMQX's default duration of a ban created without `until`. */
export const DEFAULT_BAN_MS = 365 * 24 * 3600 * 1000

const banSchema = {
  type: 'object',
  properties: {
    as: { type: 'string', enum: BAN_KINDS, description: 'What `who` is: a client id, user name or peer IP, or a regular expression (_re) or CIDR network (peerhost_net)' },
    who: { type: 'string' },
    by: { type: 'string', description: 'Who created the ban' },
    reason: { type: 'string' },
    at: { type: 'string', description: 'RFC 3339: when the ban starts' },
    until: { type: 'string', description: 'RFC 3339: when the ban ends' },
  },
} as const

const timeInput = { anyOf: [{ type: 'string' }, { type: 'integer' }], description: 'RFC 3339, or epoch seconds' } as const

interface BanBody { as: BanKind, who: string, by?: string, reason?: string, at?: string | number, until?: string | number }

/** Epoch ms from RFC 3339 or epoch seconds (a number or a string of digits). */
function parseTime (field: string, value: string | number): number {
  const ms = typeof value === 'number' || /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value)
  if (!Number.isFinite(ms) || (typeof value === 'string' && !/^\d+$/.test(value) && !/^\d{4}-\d\d-\d\dT/.test(value))) {
    throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `${field}: expected an RFC 3339 date such as 2030-01-01T00:00:00Z or epoch seconds, got ${JSON.stringify(value)}`)
  }
  return ms
}

const show = (b: Ban) => ({ as: b.as, who: b.who, by: b.by, reason: b.reason, at: rfc3339(b.at), until: b.until === Number.POSITIVE_INFINITY ? 'infinity' : rfc3339(b.until) })

interface TargetParams { as: BanKind, who: string }

export const bannedRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const banned = host.core.banned

  app.get<{ Querystring: { page: number, limit: number } }>('/api/v5/banned', {
    schema: {
      tags: ['Banned'],
      summary: 'Bans in force, paged',
      querystring: { type: 'object', properties: pageQuery },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: banSchema }, meta: pageMeta } } },
    },
  }, async (request) => paginate(banned.list().map(show), request.query.page, request.query.limit))

  app.post<{ Body: BanBody }>('/api/v5/banned', {
    schema: {
      tags: ['Banned'],
      summary: 'Ban a client id, user name or peer address; connected clients it covers are disconnected',
      body: {
        type: 'object',
        required: ['as', 'who'],
        properties: {
          as: banSchema.properties.as,
          who: { type: 'string', minLength: 1 },
          by: { type: 'string' },
          reason: { type: 'string' },
          at: timeInput,
          until: { ...timeInput, description: 'RFC 3339, or epoch seconds; default one year after `at`' },
        },
      },
      response: { 200: banSchema, ...errors(400) },
    },
  }, async (request) => {
    const body = request.body
    const targetError = banTargetError(body.as, body.who)
    if (targetError) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `who: ${targetError}`)
    const now = Date.now()
    const at = body.at === undefined ? now : parseTime('at', body.at)
    const until = body.until === undefined ? at + DEFAULT_BAN_MS : parseTime('until', body.until)
    if (until <= now) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', 'until: the ban would already have expired')
    if (banned.get(body.as, body.who, now)) throw new CulexError('CULEX_ERR_API_ALREADY_BANNED', `${body.as} ${body.who} is already banned`)
    const ban: Ban = { as: body.as, who: body.who, by: body.by ?? 'mgmt_api', reason: body.reason ?? '', at, until }
    banned.add(ban)
    host.cluster?.banAdded(ban)
    const kicked = host.core.registry.kickBanned(ban)
    host.log.notice({ as: ban.as, who: ban.who, until: rfc3339(until), kicked }, 'ban added through the management API')
    return show(ban)
  })

  app.delete('/api/v5/banned', {
    schema: { tags: ['Banned'], summary: 'Remove every ban', response: { 204: NO_CONTENT } },
  }, async (_request, reply) => {
    banned.clear()
    host.cluster?.bansCleared()
    host.log.notice('every ban removed through the management API')
    return reply.code(204).send()
  })

  app.delete<{ Params: TargetParams }>('/api/v5/banned/:as/:who', {
    schema: {
      tags: ['Banned'],
      summary: 'Remove one ban',
      params: { type: 'object', properties: { as: banSchema.properties.as, who: { type: 'string' } }, required: ['as', 'who'] },
      response: { 204: NO_CONTENT, ...errors(400, 404) },
    },
  }, async (request, reply) => {
    const { as, who } = request.params
    if (!banned.remove(as, who)) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `${as} ${who} is not banned`)
    host.cluster?.banRemoved(as, who)
    host.log.notice({ as, who }, 'ban removed through the management API')
    return reply.code(204).send()
  })
}
