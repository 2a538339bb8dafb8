// GET /api/v5/stats and /api/v5/metrics with EMQX's names: a list of one object per node, or that
// object alone with ?aggregate=true (EMQX's two shapes).
import type { FastifyPluginAsync } from 'fastify'
import { parseShared } from '../mqtt/topic.js'
import type { ApiHost } from './common.js'

const STATS = {
  'connections.count': 'Connected clients',
  'connections.max': 'Most connections open at once since start',
  'live_connections.count': 'Connected clients (EMQX: not counting those in hibernation)',
  'sessions.count': 'Sessions, connected or not',
  'subscriptions.count': 'Subscriptions, shared ones included',
  'subscriptions.shared.count': 'Shared subscriptions',
  'subscribers.count': 'Sessions with at least one subscription',
  'topics.count': 'Distinct topic filters subscribed to',
  'retained.count': 'Retained messages stored',
} as const

const METRICS = {
  'bytes.received': 'Bytes read from clients',
  'bytes.sent': 'Bytes written to clients',
  'packets.received': 'MQTT packets received',
  'packets.sent': 'MQTT packets sent',
  'messages.received': 'PUBLISH messages received from clients',
  'messages.sent': 'PUBLISH messages sent to clients',
  'messages.qos0.received': 'QoS 0 PUBLISH messages received',
  'messages.qos1.received': 'QoS 1 PUBLISH messages received',
  'messages.qos2.received': 'QoS 2 PUBLISH messages received',
  'messages.qos0.sent': 'QoS 0 PUBLISH messages sent',
  'messages.qos1.sent': 'QoS 1 PUBLISH messages sent',
  'messages.qos2.sent': 'QoS 2 PUBLISH messages sent',
  'messages.dropped': 'Messages dropped (full queue, expired, too large, slow consumer)',
  'client.connack.refused': 'CONNECTs refused (banned, bad identifier, listener full, ...)',
  'authentication.failure': 'CONNECTs refused by authentication',
  'packets.protocol_error': 'Connections closed for a malformed packet or protocol error',
  'tls.handshakes': 'TLS handshakes completed',
  'tls.handshake_failures': 'TLS handshakes failed (by reason in tls.handshake_failures.<reason>)',
} as const

type Figures = Record<string, number | string>

function stats (host: ApiHost): Figures {
  const core = host.core
  let shared = 0
  let subscribers = 0
  const topics = new Set<string>()
  for (const session of core.sessions.values()) {
    if (session.subscriptions.size > 0) subscribers++
    for (const filter of session.subscriptions.keys()) {
      const s = parseShared(filter)
      if (s) shared++
      topics.add(s ? s.filter : filter)
    }
  }
  return {
    'connections.count': core.clients.size,
    'connections.max': core.metrics.connectionsMax,
    'live_connections.count': core.clients.size,
    'sessions.count': core.sessions.size,
    'subscriptions.count': core.tree.size,
    'subscriptions.shared.count': shared,
    'subscribers.count': subscribers,
    'topics.count': topics.size,
    'retained.count': core.retained.size,
  }
}

function metrics (host: ApiHost): Figures {
  const m = host.core.metrics
  const failures = Object.entries(m.tlsFailures)
  const figures: Figures = {
    'bytes.received': m.bytesReceived,
    'bytes.sent': m.bytesSent,
    'packets.received': m.packetsReceived,
    'packets.sent': m.packetsSent,
    'messages.received': m.messagesReceived,
    'messages.sent': m.messagesSent,
    'messages.dropped': m.messagesDropped,
    'client.connack.refused': m.connectionsRefused,
    'authentication.failure': m.authFailures,
    'packets.protocol_error': m.protocolErrors,
    'tls.handshakes': m.tlsHandshakes,
    'tls.handshake_failures': failures.reduce((sum, [, n]) => sum + n, 0),
  }
  for (let qos = 0; qos < 3; qos++) {
    figures[`messages.qos${qos}.received`] = m.messagesReceivedQos[qos]!
    figures[`messages.qos${qos}.sent`] = m.messagesSentQos[qos]!
  }
  for (const [reason, n] of failures) figures[`tls.handshake_failures.${reason}`] = n
  return figures
}

function figuresSchema (names: Record<string, string>, extra: boolean) {
  return {
    type: 'object',
    properties: {
      node: { type: 'string', description: 'Node name (not in the aggregate form)' },
      ...Object.fromEntries(Object.entries(names).map(([name, description]) => [name, { type: 'integer', description }])),
    },
    ...(extra ? { additionalProperties: { type: 'integer' } } : {}),
  }
}

interface Query { aggregate?: boolean }

export const statsRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const route = (path: string, tag: string, summary: string, names: Record<string, string>, read: (h: ApiHost) => Figures, extra: boolean) => {
    const figures = figuresSchema(names, extra)
    app.get<{ Querystring: Query }>(path, {
      schema: {
        tags: [tag],
        summary,
        querystring: { type: 'object', properties: { aggregate: { type: 'boolean', default: false, description: 'One object for the cluster instead of one per node' } } },
        response: { 200: { description: 'A list of one object per node, or one object with aggregate=true', anyOf: [{ type: 'array', items: figures }, figures] } },
      },
    }, async (request) => {
      const now = read(host)
      return request.query.aggregate ? now : [{ node: host.config.node.name, ...now }]
    })
  }
  route('/api/v5/stats', 'Metrics', 'Current counts (connections, sessions, subscriptions, topics, retained)', STATS, stats, false)
  route('/api/v5/metrics', 'Metrics', 'Counters since start (bytes, packets, messages, TLS handshakes)', METRICS, metrics, true)
}
