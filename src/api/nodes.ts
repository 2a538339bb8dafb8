// GET /api/v5/nodes (EMQX): the nodes of the cluster, running or stopped; a single node lists itself.
// Figures (version, uptime, connections) are this node's own; other nodes show their last heartbeat.
import type { FastifyPluginAsync } from 'fastify'
import { CulexError } from '../errors.js'
import { errors, rfc3339, type ApiHost } from './common.js'

const nodeSchema = {
  type: 'object',
  properties: {
    node: { type: 'string', description: 'node.name' },
    node_status: { type: 'string', enum: ['running', 'stopped'], description: 'stopped: no heartbeat within cluster.node_timeout, or stopped cleanly' },
    heartbeat_at: { type: ['string', 'null'], description: 'RFC 3339: the last heartbeat the node wrote to Redis (null on a single node)' },
    version: { type: ['string', 'null'], description: 'Culex version (this node only)' },
    uptime: { type: ['integer', 'null'], description: 'Milliseconds since start (this node only)' },
    connections: { type: ['integer', 'null'], description: 'Connected clients (this node only)' },
  },
} as const

interface NodeRecord { node: string, node_status: 'running' | 'stopped', heartbeat_at: string | null, version: string | null, uptime: number | null, connections: number | null }

export const nodeRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const self = (heartbeatAt: number | null): NodeRecord => ({
    node: host.config.node.name,
    node_status: host.core.closing ? 'stopped' : 'running',
    heartbeat_at: heartbeatAt === null ? null : rfc3339(heartbeatAt, true),
    version: host.version,
    uptime: Date.now() - host.core.startedAt,
    connections: host.core.clients.size,
  })

  app.get('/api/v5/nodes', {
    schema: {
      tags: ['Nodes'],
      summary: 'Nodes of the cluster with their status',
      response: { 200: { type: 'array', items: nodeSchema }, ...errors(503) },
    },
  }, async () => {
    const cluster = host.cluster
    if (!cluster) return [self(null)]
    let nodes
    try {
      nodes = await cluster.listNodes()
    } catch (err) {
      throw new CulexError('CULEX_ERR_API_UNAVAILABLE', `${cluster.bus.where} is unreachable: ${(err as Error).message}`, { cause: err })
    }
    return nodes.map((n): NodeRecord => n.node === host.config.node.name
      ? self(n.heartbeatAt)
      : { node: n.node, node_status: n.running ? 'running' : 'stopped', heartbeat_at: rfc3339(n.heartbeatAt, true), version: null, uptime: null, connections: null })
  })
}
