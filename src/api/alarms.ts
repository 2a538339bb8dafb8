// /api/v5/alarms: EMQX's alarm list. GET ?activated=true (the default, as EMQX) lists the raised alarms,
// ?activated=false the cleared ones kept as history; DELETE forgets the cleared ones.
import type { FastifyPluginAsync } from 'fastify'
import type { Alarm } from '../mqtt/alarms.js'
import { NO_CONTENT, pageMeta, pageQuery, paginate, rfc3339, type ApiHost } from './common.js'

const alarmSchema = {
  type: 'object',
  properties: {
    node: { type: 'string' },
    name: { type: 'string', description: 'e.g. conn_congestion/<clientid>/<username>, high_cpu_usage, high_system_memory_usage, high_broker_memory_usage, certificate_expiring/<listener>' },
    message: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
    duration: { type: 'integer', description: 'Milliseconds raised: until now, or until cleared' },
    activate_at: { type: 'string', description: 'RFC 3339, milliseconds' },
    deactivate_at: { type: 'string', description: 'RFC 3339, milliseconds; "infinity" while raised' },
    activated: { type: 'boolean' },
  },
} as const

/** EMQX's format_alarm: duration in milliseconds, times in RFC 3339 to the millisecond. */
function show (node: string, a: Alarm, now: number) {
  return {
    node,
    name: a.name,
    message: a.message,
    details: a.details,
    duration: (a.deactivateAt ?? now) - a.activateAt,
    activate_at: rfc3339(a.activateAt, true),
    deactivate_at: a.deactivateAt === undefined ? 'infinity' : rfc3339(a.deactivateAt, true),
    activated: a.deactivateAt === undefined,
  }
}

export const alarmRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const alarms = host.core.alarms
  const node = host.config.node.name

  app.get<{ Querystring: { page: number, limit: number, activated: boolean } }>('/api/v5/alarms', {
    schema: {
      tags: ['Alarms'],
      summary: 'Raised alarms (activated=true, the default) or cleared ones (activated=false), paged',
      querystring: { type: 'object', properties: { ...pageQuery, activated: { type: 'boolean', default: true } } },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: alarmSchema }, meta: pageMeta } } },
    },
  }, async (request) => {
    const now = Date.now()
    const list = alarms.list(request.query.activated).map((a) => show(node, a, now))
    return paginate(list, request.query.page, request.query.limit)
  })

  app.delete('/api/v5/alarms', {
    schema: { tags: ['Alarms'], summary: 'Forget every cleared alarm', response: { 204: NO_CONTENT } },
  }, async (_request, reply) => {
    alarms.deleteDeactivated()
    host.log.notice('cleared alarms removed through the management API')
    return reply.code(204).send()
  })
}
