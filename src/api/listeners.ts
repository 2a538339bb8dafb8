// /api/v5/listeners: the MQTT listeners with their state, and start / stop / restart one by id (`tcp:default`).
import type { FastifyPluginAsync } from 'fastify'
import type { Listener } from '../listeners/index.js'
import { RC } from '../mqtt/reason-codes.js'
import { CulexError } from '../errors.js'
import type { SslOptions } from '../config/schema.js'
import { errors, type ApiHost } from './common.js'
import { servedCertSchema, servedCerts } from './served-certs.js'

const tlsSchema = {
  type: ['object', 'null'],
  description: 'Culex: the TLS settings in force and the certificates served (ssl and wss listeners; null for the others)',
  properties: {
    verify: { type: 'string', enum: ['verify_none', 'verify_peer'] },
    fail_if_no_peer_cert: { type: 'boolean' },
    versions: { type: 'array', items: { type: 'string' } },
    ciphers: { type: 'array', items: { type: 'string' }, description: 'As configured; empty: OpenSSL\'s defaults' },
    honor_cipher_order: { type: 'boolean' },
    depth: { type: 'integer' },
    device_registry: { type: 'boolean', description: 'Client certificates are checked against the device registry (ssl listeners)' },
    certificates: { type: 'array', items: servedCertSchema, description: 'certfile, or each managed bundle with its SNI name' },
    handshakes: { type: 'integer', description: 'TLS handshakes completed since start' },
    handshake_failures: { type: 'object', additionalProperties: { type: 'integer' }, description: 'TLS handshakes failed since start, by reason (no_peer_cert, unknown_ca, cert_expired, version_mismatch, ...)' },
  },
} as const

const listenerSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'type:name, e.g. tcp:default' },
    type: { type: 'string', enum: ['tcp', 'ssl', 'ws', 'wss'] },
    name: { type: 'string' },
    enable: { type: 'boolean', description: 'Whether the configuration starts it' },
    bind: { type: 'string', description: 'The bound address while running, else the configured one' },
    running: { type: 'boolean' },
    current_connections: { type: 'integer' },
    max_connections: { type: ['integer', 'string'], description: 'A number or "infinity"' },
    status: {
      type: 'object',
      properties: { running: { type: 'boolean' }, current_connections: { type: 'integer' }, max_connections: { type: ['integer', 'string'] } },
    },
    tls: tlsSchema,
  },
} as const

type ListenerType = 'tcp' | 'ssl' | 'ws' | 'wss'

async function tls (host: ApiHost, l: Listener, ssl: SslOptions & { device_registry?: boolean }) {
  const m = host.core.metrics
  return {
    verify: ssl.verify,
    fail_if_no_peer_cert: ssl.fail_if_no_peer_cert,
    versions: ssl.versions,
    ciphers: ssl.ciphers,
    honor_cipher_order: ssl.honor_cipher_order,
    depth: ssl.depth,
    device_registry: ssl.device_registry === true,
    certificates: await servedCerts(host, l, ssl),
    handshakes: m.tlsHandshakesByListener[l.id] ?? 0,
    handshake_failures: { ...m.tlsFailuresByListener[l.id] },
  }
}

async function describe (host: ApiHost, l: Listener) {
  const config = host.config.listeners[l.type as ListenerType]?.[l.name]
  const bound = l.address()
  const bind = bound ?? config?.bind
  const max = config?.max_connections ?? Number.POSITIVE_INFINITY
  const status = { running: l.running, current_connections: l.connectionCount, max_connections: Number.isFinite(max) ? max : 'infinity' }
  return {
    id: l.id,
    type: l.type,
    name: l.name,
    enable: l.enabled,
    bind: bind ? `${bind.host.includes(':') ? `[${bind.host}]` : bind.host}:${bind.port}` : '',
    ...status,
    status,
    tls: config && 'ssl_options' in config ? await tls(host, l, config.ssl_options) : null,
  }
}

function find (host: ApiHost, id: string): Listener {
  const listener = host.listeners.find((l) => l.id === id)
  if (!listener) throw new CulexError('CULEX_ERR_API_LISTENER_NOT_FOUND', `listener ${id} not found`)
  return listener
}

/** Stops a listener; its MQTT 5 clients get DISCONNECT 0x98 Administrative action first. */
async function stop (host: ApiHost, listener: Listener): Promise<void> {
  for (const conn of [...host.core.connections]) {
    if (conn.listener.id === listener.id) conn.disconnect(RC.ADMINISTRATIVE_ACTION, 'listener stopped')
  }
  await listener.stop(1000)
  host.log.notice({ listener: listener.id }, 'listener stopped through the management API')
}

async function start (host: ApiHost, listener: Listener): Promise<void> {
  if (listener.running) return
  try {
    await listener.start()
  } catch (err) {
    throw new CulexError('CULEX_ERR_API_BAD_REQUEST', (err as Error).message, { cause: err })
  }
  const a = listener.address()!
  host.log.notice({ listener: listener.id, address: `${a.host}:${a.port}` }, 'listener started through the management API')
}

const ACTIONS = {
  start: (host: ApiHost, l: Listener) => start(host, l),
  stop: (host: ApiHost, l: Listener) => stop(host, l),
  restart: async (host: ApiHost, l: Listener) => { await stop(host, l); await start(host, l) },
} as const

interface IdParams { id: string }

export const listenerRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const idParams = { type: 'object', properties: { id: { type: 'string', description: 'type:name, e.g. tcp:default' } }, required: ['id'] }

  app.get('/api/v5/listeners', {
    schema: { tags: ['Listeners'], summary: 'The MQTT listeners and their state', response: { 200: { type: 'array', items: listenerSchema } } },
  }, async () => Promise.all(host.listeners.map((l) => describe(host, l))))

  app.get<{ Params: IdParams }>('/api/v5/listeners/:id', {
    schema: { tags: ['Listeners'], summary: 'One listener', params: idParams, response: { 200: listenerSchema, ...errors(404) } },
  }, async (request) => describe(host, find(host, request.params.id)))

  for (const [action, run] of Object.entries(ACTIONS)) {
    app.post<{ Params: IdParams }>(`/api/v5/listeners/:id/${action}`, {
      schema: {
        tags: ['Listeners'],
        summary: `${action[0]!.toUpperCase()}${action.slice(1)} a listener` + (action === 'start' ? '' : ' (its clients are disconnected, MQTT 5 ones with 0x98)'),
        params: idParams,
        response: { 200: listenerSchema, ...errors(400, 404) },
      },
    }, async (request) => {
      const listener = find(host, request.params.id)
      await run(host, listener)
      return describe(host, listener)
    })
  }
}
