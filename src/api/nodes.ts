// GET /api/v5/nodes (EMQX): the nodes of the cluster, running or stopped; a single node lists itself.
// Figures (version, uptime, connections, memory, load) are this node's own; other nodes show their last heartbeat.
import { readFileSync } from 'node:fs'
import { freemem, loadavg, totalmem } from 'node:os'
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
    connections: { type: ['integer', 'null'], description: 'Sessions, connected or not (this node only)' },
    live_connections: { type: ['integer', 'null'], description: 'Connected clients (this node only)' },
    memory_total: { type: ['string', 'null'], description: 'The host\'s memory, as EMQX writes sizes ("15.52G"; this node only)' },
    memory_used: { type: ['string', 'null'], description: 'The host\'s memory in use: total less available ("3.10G"; this node only)' },
    load1: { type: ['number', 'null'], description: 'Load average over 1 minute (this node only)' },
    load5: { type: ['number', 'null'], description: 'Load average over 5 minutes (this node only)' },
    load15: { type: ['number', 'null'], description: 'Load average over 15 minutes (this node only)' },
    max_fds: { type: ['integer', 'null'], description: 'The process\'s limit of open files (soft; null where unknown; this node only)' },
    role: { type: 'string', enum: ['core'], description: 'Every Culex node is a core node (EMQX: core or replicant)' },
  },
} as const

interface NodeRecord {
  node: string
  node_status: 'running' | 'stopped'
  heartbeat_at: string | null
  version: string | null
  uptime: number | null
  connections: number | null
  live_connections: number | null
  memory_total: string | null
  memory_used: string | null
  load1: number | null
  load5: number | null
  load15: number | null
  max_fds: number | null
  role: 'core'
}

const KIB = 1024

/** A byte count as EMQX's management API writes it (emqx_mgmt_util:kmg): two decimals and K, M or G. */
export function kmg (bytes: number): string {
  for (const [unit, size] of [['G', KIB ** 3], ['M', KIB ** 2], ['K', KIB]] as const) {
    if (bytes > size) return `${(bytes / size).toFixed(2)}${unit}`
  }
  return String(bytes)
}

/** The soft limit of open files (Linux: /proc/self/limits), null elsewhere or when unlimited. */
function maxFds (): number | null {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return line ? Number(line[1]) : null
  } catch {
    return null
  }
}

/** The host's memory as EMQX 5 reports it (total, and total less what is available). */
function memory (): { memory_total: string, memory_used: string } {
  const total = totalmem()
  return { memory_total: kmg(total), memory_used: kmg(total - freemem()) }
}

const round2 = (n: number): number => Math.round(n * 100) / 100

export const nodeRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const self = (heartbeatAt: number | null): NodeRecord => {
    const [load1, load5, load15] = loadavg().map(round2) as [number, number, number]
    return {
      node: host.config.node.name,
      node_status: host.core.closing ? 'stopped' : 'running',
      heartbeat_at: heartbeatAt === null ? null : rfc3339(heartbeatAt, true),
      version: host.version,
      uptime: Date.now() - host.core.startedAt,
      connections: host.core.sessions.size,
      live_connections: host.core.clients.size,
      ...memory(),
      load1,
      load5,
      load15,
      max_fds: maxFds(),
      role: 'core',
    }
  }
  const other = (node: string, running: boolean, heartbeatAt: number): NodeRecord => ({
    node,
    node_status: running ? 'running' : 'stopped',
    heartbeat_at: rfc3339(heartbeatAt, true),
    version: null,
    uptime: null,
    connections: null,
    live_connections: null,
    memory_total: null,
    memory_used: null,
    load1: null,
    load5: null,
    load15: null,
    max_fds: null,
    role: 'core',
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
    return nodes.map((n) => n.node === host.config.node.name ? self(n.heartbeatAt) : other(n.node, n.running, n.heartbeatAt))
  })
}
