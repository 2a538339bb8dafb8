// EMQX's retainer API (emqx_retainer_api): the retained messages, listed and paged (optionally those a
// topic filter matches), one with its payload, and deletion, which the cluster carries to every node.
import { createHash } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import { isExpired, type Message } from '../mqtt/message.js'
import { hasWildcard } from '../mqtt/topic.js'
import { CulexError } from '../errors.js'
import { errors, NO_CONTENT, pageMeta, pageQuery, paginate, rfc3339, type ApiHost } from './common.js'

/** EMQX leaves out payloads over 1 MB. */
const MAX_PAYLOAD = 1024 * 1024

const summaryProperties = {
  msgid: { type: 'string', description: '32 hexadecimal digits naming this stored copy (Culex: derived from the topic and the time it was stored on this node)' },
  topic: { type: 'string' },
  qos: { type: 'integer', enum: [0, 1, 2] },
  publish_at: { type: 'string', description: 'RFC 3339, milliseconds: when this node stored it' },
  from_clientid: { type: 'string', description: 'Client id of the publisher, "" for the broker\'s own' },
  from_username: { type: 'string', description: 'User name of the publisher, "" when none or published on another node of the cluster' },
} as const

const summarySchema = { type: 'object', properties: summaryProperties } as const
const messageSchema = {
  type: 'object',
  properties: { ...summaryProperties, payload: { type: 'string', description: 'Base64; absent over 1 MB' } },
} as const

function summary (m: Message) {
  const at = m.retainedAt ?? 0
  return {
    msgid: createHash('sha256').update(`${at}\u0000${m.topic}`).digest('hex').slice(0, 32),
    topic: m.topic,
    qos: m.qos,
    publish_at: rfc3339(at, true),
    from_clientid: m.origin ?? '',
    from_username: m.username ?? '',
  }
}

interface ListQuery { topic?: string, page: number, limit: number }
interface TopicParams { topic: string }

export const retainerRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const retainer = host.core.retainer
  const everything = (): Message[] => retainer.store.all?.() ?? retainer.store.match('#')
  /** The messages in force whose topic is `topic`, or that it matches when it has wildcards. */
  const find = (topic: string): Message[] => {
    const now = Date.now()
    const found = hasWildcard(topic) ? retainer.store.match(topic) : [retainer.store.get(topic)]
    return found.filter((m): m is Message => m !== undefined && !isExpired(m, now))
  }
  const notFound = () => new CulexError('CULEX_ERR_API_NOT_FOUND', 'Viewed message doesn\'t exist')
  const topicParams = { type: 'object', properties: { topic: { type: 'string', description: 'The topic, URL-encoded (a/b as a%2Fb); a filter with wildcards names every topic it matches' } }, required: ['topic'] }

  app.get<{ Querystring: ListQuery }>('/api/v5/mqtt/retainer/messages', {
    schema: {
      tags: ['Retainer'],
      summary: 'Retained messages, without payloads, paged',
      querystring: { type: 'object', properties: { topic: { type: 'string', description: 'Only those this topic filter matches' }, ...pageQuery } },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: summarySchema }, meta: pageMeta } }, ...errors(400) },
    },
  }, async (request) => {
    const { topic, page, limit } = request.query
    const now = Date.now()
    const all = topic === undefined ? everything() : retainer.store.match(topic)
    return paginate(all.filter((m) => !isExpired(m, now)).map(summary), page, limit)
  })

  app.delete('/api/v5/mqtt/retainer/messages', {
    schema: { tags: ['Retainer'], summary: 'Delete every retained message, on every node of the cluster', response: { 204: NO_CONTENT } },
  }, async (_request, reply) => {
    const topics = everything().map((m) => m.topic)
    for (const topic of topics) retainer.delete(topic)
    host.log.notice({ count: topics.length }, 'every retained message deleted through the management API')
    return reply.code(204).send()
  })

  app.get<{ Params: TopicParams }>('/api/v5/mqtt/retainer/message/:topic', {
    schema: { tags: ['Retainer'], summary: 'One retained message with its payload', params: topicParams, response: { 200: messageSchema, ...errors(404) } },
  }, async (request) => {
    const [m] = find(request.params.topic)
    if (!m) throw notFound()
    return m.payload.length <= MAX_PAYLOAD ? { ...summary(m), payload: m.payload.toString('base64') } : summary(m)
  })

  app.delete<{ Params: TopicParams }>('/api/v5/mqtt/retainer/message/:topic', {
    schema: {
      tags: ['Retainer'],
      summary: 'Delete a retained message (every one a filter matches), on every node of the cluster; subscribers get nothing',
      params: topicParams,
      response: { 204: NO_CONTENT, ...errors(404) },
    },
  }, async (request, reply) => {
    const found = find(request.params.topic)
    if (found.length === 0) throw notFound()
    for (const m of found) retainer.delete(m.topic)
    host.log.notice({ topic: request.params.topic, count: found.length }, 'retained message deleted through the management API')
    return reply.code(204).send()
  })
}
