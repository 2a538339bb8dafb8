// /api/v5/mqtt/delayed: EMQX 5.8's delayed publish API (emqx_delayed_api). GET/PUT the settings; list the
// held messages (paged); GET (with the payload, base64) or DELETE one by node and msgid; DELETE every one
// held for a topic. Node-local: a node answers for the messages it holds.
import type { FastifyPluginAsync } from 'fastify'
import { CulexError } from '../errors.js'
import type { DelayedRecord } from '../mqtt/delayed.js'
import { NO_CONTENT, pageMeta, pageQuery, paginate, rfc3339, type ApiHost } from './common.js'

/** EMQX's MAX_PAYLOAD_LENGTH: a larger payload is shown as PAYLOAD_TOO_LARGE. */
const MAX_PAYLOAD_LENGTH = 2048

const messageSchema = {
  type: 'object',
  properties: {
    msgid: { type: 'string' },
    node: { type: 'string' },
    publish_at: { type: 'string', description: 'RFC 3339: when it was published to $delayed/' },
    delayed_interval: { type: 'integer' },
    delayed_remaining: { type: 'integer', description: 'Seconds until it is published' },
    expected_at: { type: 'string' },
    topic: { type: 'string' },
    qos: { type: 'integer' },
    from_clientid: { type: ['string', 'null'] },
    from_username: { type: ['string', 'null'] },
    payload: { type: 'string' },
  },
} as const

const settingsSchema = {
  type: 'object',
  properties: { enable: { type: 'boolean' }, max_delayed_messages: { type: 'integer' } },
} as const

const codeError = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } as const

export const delayedRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const delayed = host.core.delayed
  const settings = host.config.delayed
  const node = host.config.node.name
  const show = (r: DelayedRecord, withPayload = false) => ({
    msgid: r.id,
    node,
    publish_at: rfc3339(r.publishedAt),
    delayed_interval: r.interval,
    delayed_remaining: Math.max(0, Math.floor((r.publishAt - Date.now()) / 1000)),
    expected_at: rfc3339(r.publishAt),
    topic: r.message.topic,
    qos: r.message.qos,
    from_clientid: r.message.origin ?? null,
    from_username: r.username ?? null,
    ...(withPayload ? { payload: r.message.payload.length > MAX_PAYLOAD_LENGTH ? 'PAYLOAD_TOO_LARGE' : r.message.payload.toString('base64') } : {}),
  })

  app.get('/api/v5/mqtt/delayed', {
    schema: { tags: ['MQTT'], summary: 'Delayed publish settings', response: { 200: settingsSchema } },
  }, async () => ({ enable: settings.enable, max_delayed_messages: settings.max_delayed_messages }))

  app.put<{ Body: { enable?: boolean, max_delayed_messages?: number } }>('/api/v5/mqtt/delayed', {
    schema: {
      tags: ['MQTT'],
      summary: 'Change the delayed publish settings (until restart)',
      body: settingsSchema,
      response: { 200: settingsSchema, 400: codeError },
    },
  }, async (request) => {
    const body = request.body
    if (body.max_delayed_messages !== undefined && body.max_delayed_messages < 0) {
      throw new CulexError('CULEX_ERR_API_BAD_REQUEST', 'Max delayed must be equal or greater than 0')
    }
    if (body.enable !== undefined) settings.enable = body.enable
    if (body.max_delayed_messages !== undefined) settings.max_delayed_messages = body.max_delayed_messages
    host.log.notice({ ...settings }, 'delayed publish settings changed through the management API')
    return { enable: settings.enable, max_delayed_messages: settings.max_delayed_messages }
  })

  app.get<{ Querystring: { page: number, limit: number } }>('/api/v5/mqtt/delayed/messages', {
    schema: {
      tags: ['MQTT'],
      summary: 'Delayed messages held, soonest first, paged',
      querystring: { type: 'object', properties: pageQuery },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: messageSchema }, meta: pageMeta } } },
    },
  }, async (request) => paginate(delayed.list().map((r) => show(r)), request.query.page, request.query.limit))

  interface One { node: string, msgid: string }
  const params = { type: 'object', properties: { node: { type: 'string' }, msgid: { type: 'string' } }, required: ['node', 'msgid'] } as const
  /** The message, or EMQX's error for it. */
  const find = ({ node: asked, msgid }: One): DelayedRecord => {
    if (!/^[0-9a-fA-F]{32}$/.test(msgid)) throw new CulexError('CULEX_ERR_API_DELAYED_ID', `Message ID ${msgid} schema error`)
    if (asked !== node) throw new CulexError('CULEX_ERR_API_INVALID_NODE', `The node name ${asked} is invalid`)
    const record = delayed.get(msgid.toLowerCase())
    if (!record) throw new CulexError('CULEX_ERR_API_DELAYED_NOT_FOUND', `Message ID ${msgid} not found`)
    return record
  }

  app.get<{ Params: One }>('/api/v5/mqtt/delayed/messages/:node/:msgid', {
    schema: { tags: ['MQTT'], summary: 'One delayed message, with its payload (base64)', params, response: { 200: messageSchema, 400: codeError, 404: codeError } },
  }, async (request) => show(find(request.params), true))

  app.delete<{ Params: One }>('/api/v5/mqtt/delayed/messages/:node/:msgid', {
    schema: { tags: ['MQTT'], summary: 'Drop one delayed message', params, response: { 204: NO_CONTENT, 400: codeError, 404: codeError } },
  }, async (request, reply) => {
    const record = find(request.params)
    delayed.delete(record.id)
    host.log.notice({ id: record.id, topic: record.message.topic }, 'delayed message deleted through the management API')
    return reply.code(204).send()
  })

  app.delete<{ Params: { topic: string } }>('/api/v5/mqtt/delayed/messages/:topic', {
    schema: {
      tags: ['MQTT'],
      summary: 'Drop every delayed message held for a topic (URL-encoded)',
      params: { type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] },
      response: { 204: NO_CONTENT, 400: codeError, 404: codeError },
    },
  }, async (request, reply) => {
    const topic = request.params.topic
    if (topic.includes('+') || topic.includes('#')) throw new CulexError('CULEX_ERR_API_INVALID_TOPIC', `The topic name ${topic} is invalid`)
    if (delayed.deleteTopic(topic) === 0) throw new CulexError('CULEX_ERR_API_DELAYED_TOPIC_NOT_FOUND', `Not found messages for ${topic}`)
    return reply.code(204).send()
  })
}
