// GET /api/v5/monitor and /api/v5/monitor_current (EMQX's emqx_dashboard_monitor_api): the samples the
// dashboard draws its charts from, and the gauges and rates of now. This node's figures (in a cluster too).
import type { FastifyPluginAsync } from 'fastify'
import { CulexError } from '../errors.js'
import { errors, type ApiHost } from './common.js'
import { DELTAS, GAUGES, MonitorRing } from './monitor-ring.js'

const GAUGE_DOCS: Record<(typeof GAUGES)[number], string> = {
  connections: 'Connected clients',
  live_connections: 'Connected clients (EMQX: not counting those in hibernation)',
  subscriptions: 'Subscriptions, shared ones included',
  topics: 'Distinct topic filters subscribed to',
  retained_msg_count: 'Retained messages stored',
  shared_subscriptions: 'Shared subscriptions',
}
const DELTA_DOCS: Record<keyof typeof DELTAS, string> = {
  received: 'PUBLISH messages received from clients',
  sent: 'PUBLISH messages sent to clients',
  dropped: 'Messages dropped',
}

const int = (description: string) => ({ type: 'integer', description })
const num = (description: string) => ({ type: 'number', description })
const gauges = Object.fromEntries(GAUGES.map((g) => [g, int(GAUGE_DOCS[g])]))
const rates = Object.fromEntries(Object.entries(DELTAS).map(([d, rate]) => [rate, num(`${DELTA_DOCS[d as keyof typeof DELTAS]}, per second`)]))

const sampleSchema = {
  type: 'object',
  properties: {
    time_stamp: int('Epoch milliseconds of the sample, a multiple of dashboard.sample_interval'),
    ...gauges,
    ...Object.fromEntries(Object.entries(DELTA_DOCS).map(([d, doc]) => [d, int(`${doc} since the sample before`)])),
    ...rates,
  },
} as const

const currentSchema = {
  type: 'object',
  properties: { ...gauges, ...rates, node_uptime: int('Milliseconds since the node started (the per-node form only)') },
} as const

interface LatestQuery { latest?: number }
interface NodeParams { node: string }

export const monitorRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const ring = new MonitorRing(host.core, host.config.dashboard.sample_interval)
  ring.start()
  app.addHook('onClose', async () => ring.stop())

  const latestQuery = {
    type: 'object',
    properties: { latest: { type: 'integer', minimum: 1, description: 'Only the samples of the last this many seconds (default: all kept, the last hour)' } },
  }
  const nodeParams = { type: 'object', properties: { node: { type: 'string' } }, required: ['node'] }
  const thisNode = (node: string) => {
    if (node !== host.config.node.name) throw new CulexError('CULEX_ERR_API_INVALID_NODE', `node ${node} is not this node (${host.config.node.name}); ask that node for its monitor`)
  }
  const samples = (latest: number | undefined) => ring.since(latest === undefined ? 0 : Date.now() - latest * 1000)
  const current = () => ({ ...ring.gauges(), ...ring.rates() })

  app.get<{ Querystring: LatestQuery }>('/api/v5/monitor', {
    schema: {
      tags: ['Metrics'],
      summary: 'Samples of the node\'s figures, one per dashboard.sample_interval, oldest first (this node\'s, in a cluster too)',
      querystring: latestQuery,
      response: { 200: { type: 'array', items: sampleSchema }, ...errors(400) },
    },
  }, async (request) => samples(request.query.latest))

  app.get<{ Params: NodeParams, Querystring: LatestQuery }>('/api/v5/monitor/nodes/:node', {
    schema: {
      tags: ['Metrics'],
      summary: 'Samples of one node: this one',
      params: nodeParams,
      querystring: latestQuery,
      response: { 200: { type: 'array', items: sampleSchema }, ...errors(400) },
    },
  }, async (request) => {
    thisNode(request.params.node)
    return samples(request.query.latest)
  })

  app.get('/api/v5/monitor_current', {
    schema: {
      tags: ['Metrics'],
      summary: 'Gauges now and message rates since the last sample (this node\'s, in a cluster too)',
      response: { 200: currentSchema },
    },
  }, async () => current())

  app.get<{ Params: NodeParams }>('/api/v5/monitor_current/nodes/:node', {
    schema: { tags: ['Metrics'], summary: 'Gauges and rates of one node: this one', params: nodeParams, response: { 200: currentSchema, ...errors(400) } },
  }, async (request) => {
    thisNode(request.params.node)
    return { ...current(), node_uptime: Date.now() - host.core.startedAt }
  })
}
