// GET /api/v5/stats and /api/v5/metrics with EMQX's names: a list of one object per node, or that
// object alone with ?aggregate=true (EMQX's two shapes). In a cluster, /api/v5/stats lists every
// running node (the others' counts as of their last heartbeat) and aggregate=true sums them; metrics
// are this node's.
import type { FastifyPluginAsync } from 'fastify'
import { nodeStats, STATS } from '../mqtt/stats.js'
import type { Cluster } from '../cluster/cluster.js'
import { CulexError } from '../errors.js'
import { errors, type ApiHost } from './common.js'

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
  'messages.dropped': 'Messages dropped (full queue, expired, too large, slow consumer, will not authorized, delivery error)',
  'messages.dropped.will_not_authorized': 'Will messages dropped: their client was not authorized to publish them',
  'delivery.dropped.error': 'Deliveries to one subscriber that failed with an error (the other subscribers served)',
  'store.errors': 'Data store reads and writes that failed (logged; the broker went on without them)',
  'client.connack.refused': 'CONNECTs refused (banned, bad identifier, listener full, ...)',
  'authentication.failure': 'CONNECTs refused by authentication',
  'packets.protocol_error': 'Connections closed for a malformed packet or protocol error',
  'tls.handshakes': 'TLS handshakes completed',
  'tls.handshake_failures': 'TLS handshakes failed (by reason in tls.handshake_failures.<reason>)',
} as const

type Figures = Record<string, number | string>

function stats (host: ApiHost): Figures {
  return nodeStats(host.core)
}

/** Every running node's counts, this one's first (read now); 503 while the cluster store is unreachable. */
async function clusterStats (host: ApiHost, cluster: Cluster): Promise<Figures[]> {
  let others
  try {
    others = await cluster.otherStats()
  } catch (err) {
    throw new CulexError('CULEX_ERR_API_UNAVAILABLE', `${cluster.bus.where} is unreachable: ${(err as Error).message}`, { cause: err })
  }
  return [{ node: host.config.node.name, ...stats(host) }, ...others.map(({ node, figures }) => ({ node, ...figures }))]
}

function sum (nodes: Figures[]): Figures {
  const total: Record<string, number> = {}
  for (const { node: _node, ...figures } of nodes) {
    for (const [name, value] of Object.entries(figures)) if (typeof value === 'number') total[name] = (total[name] ?? 0) + value
  }
  return total
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
    'messages.dropped.will_not_authorized': m.willsNotAuthorized,
    'delivery.dropped.error': m.deliveryErrors,
    'store.errors': m.storeErrors,
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
        response: { 200: { description: 'A list of one object per node, or one object with aggregate=true', anyOf: [{ type: 'array', items: figures }, figures] }, ...errors(503) },
      },
    }, async (request) => {
      const cluster = host.cluster
      if (cluster && read === stats) {
        const nodes = await clusterStats(host, cluster)
        return request.query.aggregate ? sum(nodes) : nodes
      }
      const now = read(host)
      return request.query.aggregate ? now : [{ node: host.config.node.name, ...now }]
    })
  }
  route('/api/v5/stats', 'Metrics', 'Current counts (connections, sessions, subscriptions, topics, retained)', STATS, stats, false)
  route('/api/v5/metrics', 'Metrics', 'Counters since start (bytes, packets, messages, TLS handshakes)', METRICS, metrics, true)
}
