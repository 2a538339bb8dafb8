// GET /api/v5/status (and /status, EMQX's health-check path): plain text, or JSON with ?format=json.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { ApiHost } from './common.js'

interface Query { format?: 'text' | 'json' }

export const statusRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const schema = {
    tags: ['Status'],
    summary: 'Node status (for health checks)',
    security: [],
    querystring: {
      type: 'object',
      properties: { format: { type: 'string', enum: ['text', 'json'], default: 'text' } },
    },
    response: {
      200: {
        description: 'text: "Node culex@127.0.0.1 is started\\nculex is running"; json: the same as fields',
        type: 'object',
        properties: {
          node_name: { type: 'string' },
          rel_vsn: { type: 'string' },
          broker_status: { type: 'string', enum: ['started', 'stopped'] },
          app_status: { type: 'string', enum: ['running', 'not_running'] },
        },
      },
    },
  }
  const handler = async (request: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) => {
    const running = !host.core.closing
    const node = host.config.node.name
    reply.code(running ? 200 : 503)
    if (request.query.format === 'json') {
      return { node_name: node, rel_vsn: host.version, broker_status: running ? 'started' : 'stopped', app_status: running ? 'running' : 'not_running' }
    }
    reply.type('text/plain; charset=utf-8')
    return `Node ${node} is ${running ? 'started' : 'stopped'}\nculex is ${running ? 'running' : 'not_running'}`
  }
  app.get<{ Querystring: Query }>('/api/v5/status', { schema, config: { public: true } }, handler)
  app.get<{ Querystring: Query }>('/status', { schema: { ...schema, hide: true }, config: { public: true } }, handler)
}
