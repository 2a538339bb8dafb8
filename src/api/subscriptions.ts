// GET /api/v5/subscriptions (EMQX's emqx_mgmt_api_subscriptions) with its filters, and
// GET /api/v5/clients/:clientid/subscriptions: the subscriptions of this node's sessions, connected or not.
import type { FastifyPluginAsync } from 'fastify'
import type { Session } from '../mqtt/session.js'
import { parseShared, topicMatches } from '../mqtt/topic.js'
import { CulexError } from '../errors.js'
import { errors, pageMeta, pageQuery, paginate, type ApiHost } from './common.js'

const subscriptionSchema = {
  type: 'object',
  properties: {
    node: { type: 'string' },
    clientid: { type: 'string' },
    topic: { type: 'string', description: 'The filter as subscribed, $share/<group>/ included' },
    qos: { type: 'integer', enum: [0, 1, 2] },
    nl: { type: 'integer', enum: [0, 1], description: 'No Local' },
    rap: { type: 'integer', enum: [0, 1], description: 'Retain As Published' },
    rh: { type: 'integer', enum: [0, 1, 2], description: 'Retain Handling' },
    durable: { type: 'boolean', description: 'Always false: EMQX\'s durable sessions; Culex\'s persistent sessions are listed as the others' },
  },
} as const

interface SubscriptionRecord { node: string, clientid: string, topic: string, qos: number, nl: 0 | 1, rap: 0 | 1, rh: number, durable: false }

function records (host: ApiHost, session: Session): SubscriptionRecord[] {
  const node = host.config.node.name
  return [...session.subscriptions.values()].map((s) => ({
    node, clientid: session.clientId, topic: s.filter, qos: s.qos, nl: s.nl ? 1 : 0, rap: s.rap ? 1 : 0, rh: s.rh, durable: false,
  }))
}

interface ListQuery {
  clientid?: string
  topic?: string
  qos?: number
  share_group?: string
  match_topic?: string
  node?: string
  page: number
  limit: number
}

/** The filter and share group of a subscription record (topic `$share/g/t`: t and g). */
function split (topic: string): { filter: string, group: string | undefined } {
  const shared = parseShared(topic)
  return shared ? { filter: shared.filter, group: shared.group } : { filter: topic, group: undefined }
}

function matcher (q: ListQuery): (r: SubscriptionRecord) => boolean {
  // topic may be given whole ($share/g/t) or as t with share_group=g.
  const asked = q.topic === undefined ? undefined : split(q.topic)
  const group = asked?.group ?? q.share_group
  return (r) => {
    if (q.clientid !== undefined && r.clientid !== q.clientid) return false
    if (q.qos !== undefined && r.qos !== q.qos) return false
    const { filter, group: rGroup } = split(r.topic)
    if (asked !== undefined && filter !== asked.filter) return false
    if (group !== undefined && rGroup !== group) return false
    // The subscription's filter read as a topic name: t/+ is matched by t/# and by t/+.
    if (q.match_topic !== undefined && !topicMatches(q.match_topic, filter)) return false
    return true
  }
}

export const subscriptionRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  app.get<{ Querystring: ListQuery }>('/api/v5/subscriptions', {
    schema: {
      tags: ['Subscriptions'],
      summary: 'Subscriptions of this node\'s sessions, filtered and paged',
      querystring: {
        type: 'object',
        properties: {
          clientid: { type: 'string', description: 'Exact client id' },
          topic: { type: 'string', description: 'Exact topic filter (of a shared subscription: without $share/<group>/, or whole)' },
          qos: { type: 'integer', enum: [0, 1, 2] },
          share_group: { type: 'string', description: 'Shared subscriptions of this group' },
          match_topic: { type: 'string', description: 'Subscriptions whose filter this topic filter matches' },
          node: { type: 'string', description: 'Node name; only this node\'s subscriptions are listed' },
          ...pageQuery,
        },
      },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: subscriptionSchema }, meta: pageMeta } }, ...errors(400) },
    },
  }, async (request) => {
    const q = request.query
    if (q.node !== undefined && q.node !== host.config.node.name) throw new CulexError('CULEX_ERR_API_INVALID_NODE', `node ${q.node} is not this node (${host.config.node.name})`)
    const all: SubscriptionRecord[] = []
    for (const session of host.core.sessions.values()) all.push(...records(host, session))
    return paginate(all.filter(matcher(q)), q.page, q.limit)
  })

  app.get<{ Params: { clientid: string } }>('/api/v5/clients/:clientid/subscriptions', {
    schema: {
      tags: ['Clients'],
      summary: 'One client\'s subscriptions',
      params: { type: 'object', properties: { clientid: { type: 'string' } }, required: ['clientid'] },
      response: { 200: { type: 'array', items: subscriptionSchema }, ...errors(404) },
    },
  }, async (request) => {
    const session = host.core.sessions.get(request.params.clientid)
    if (!session) throw new CulexError('CULEX_ERR_API_CLIENT_NOT_FOUND', 'Client ID not found')
    return records(host, session)
  })
}
