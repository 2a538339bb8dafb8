// /api/v5/clients: connected clients and kept sessions with EMQX's fields and filters; DELETE kicks
// (DISCONNECT 0x98 Administrative action) and discards the session.
import type { FastifyPluginAsync } from 'fastify'
import type { Channel } from '../mqtt/channel.js'
import type { Session } from '../mqtt/session.js'
import { CulexError } from '../errors.js'
import { errors, NO_CONTENT, pageMeta, pageQuery, paginate, rfc3339, type ApiHost } from './common.js'

const PROTO_NAMES = { 3: 'MQIsdp', 4: 'MQTT', 5: 'MQTT' } as const

const str = (description: string) => ({ type: 'string', description })
const int = (description: string) => ({ type: 'integer', description })
const bool = (description: string) => ({ type: 'boolean', description })
const nullableStr = (description: string) => ({ type: ['string', 'null'], description })

const clientSchema = {
  type: 'object',
  properties: {
    clientid: str('Client identifier'),
    username: nullableStr('User name, null when none'),
    node: str('Node the client is connected to'),
    connected: bool('false for a session kept after its client left'),
    ip_address: nullableStr('Peer IP address'),
    port: { type: ['integer', 'null'], description: 'Peer TCP port' },
    listener: nullableStr('Listener id, e.g. ssl:default'),
    mountpoint: nullableStr('Mountpoint, expanded'),
    proto_name: nullableStr('MQTT or MQIsdp'),
    proto_ver: { type: ['integer', 'null'], description: '3, 4 (3.1.1) or 5' },
    keepalive: int('Keep Alive in force, seconds'),
    clean_start: bool('Clean Start (Clean Session)'),
    expiry_interval: int('Session Expiry Interval, seconds'),
    connected_at: nullableStr('RFC 3339'),
    subscriptions_cnt: int('Subscriptions'),
    inflight_cnt: int('QoS 1/2 messages sent and not yet acknowledged'),
    awaiting_rel_cnt: int('Incoming QoS 2 messages awaiting PUBREL'),
    mqueue_len: int('Messages queued for the client'),
    mqueue_dropped: int('Messages the session dropped'),
    heap_size: int('Bytes the client pins in the broker (topic aliases, subscriptions, queued and in-flight messages, will, partial packet): what force_shutdown.max_heap_size bounds'),
    is_ssl: bool('Connected over TLS (ssl or wss)'),
    tls_version: nullableStr('TLS version, e.g. TLSv1.3'),
    tls_cipher: nullableStr('TLS cipher suite (OpenSSL name)'),
    sni: nullableStr('Server name the client asked for in the TLS handshake'),
    cert_subject: nullableStr('Subject DN of the verified client certificate'),
    cert_common_name: nullableStr('Common name of the verified client certificate'),
    cert_issuer: nullableStr('Culex: issuer DN of the verified client certificate'),
    cert_serial: nullableStr('Culex: serial number of the verified client certificate, upper-case hex'),
    cert_not_after: nullableStr('Culex: end of validity of the verified client certificate, RFC 3339'),
    authenticator: nullableStr('Culex: id of the authenticator that accepted the client (jwt, password_based:built_in_database, ...); null when none was asked'),
    expire_at: nullableStr('Culex: when the credentials the client was accepted with expire (a JWT\'s exp), RFC 3339'),
  },
} as const

type ClientRecord = Record<string, string | number | boolean | null>

function sessionFields (s: Session) {
  return {
    expiry_interval: s.expiryInterval,
    subscriptions_cnt: s.subscriptions.size,
    inflight_cnt: s.inflight.size,
    awaiting_rel_cnt: s.awaitingRel.size,
    mqueue_len: s.queueLength,
    mqueue_dropped: s.dropped,
    heap_size: s.pinnedBytes,
  }
}

function connected (host: ApiHost, channel: Channel): ClientRecord {
  const c = channel.client!
  const tls = channel.transport.tls
  const cert = tls?.peerCert
  const notAfter = cert?.notAfter ? Date.parse(cert.notAfter) : NaN
  return {
    clientid: c.clientId,
    username: c.username ?? null,
    node: host.config.node.name,
    connected: true,
    ip_address: c.remoteAddress,
    port: c.remotePort,
    listener: c.listener,
    mountpoint: channel.mountpoint || null,
    proto_name: PROTO_NAMES[channel.protocolVersion],
    proto_ver: channel.protocolVersion,
    keepalive: channel.keepalive,
    clean_start: channel.cleanStart,
    connected_at: rfc3339(c.connectedAt, true),
    ...sessionFields(channel.session!),
    heap_size: channel.pinnedBytes,
    is_ssl: tls !== undefined,
    tls_version: tls?.version ?? null,
    tls_cipher: tls?.cipher ?? null,
    sni: tls ? tls.sni || null : null,
    cert_subject: cert?.subject || null,
    cert_common_name: cert?.cn || null,
    cert_issuer: cert?.issuer || null,
    cert_serial: cert?.serial || null,
    cert_not_after: Number.isNaN(notAfter) ? null : rfc3339(notAfter),
    authenticator: c.authenticator ?? null,
    expire_at: c.expireAt === undefined ? null : rfc3339(c.expireAt),
  }
}

/** A session kept while its client is away: what the session knows, the rest null. */
function offline (host: ApiHost, s: Session): ClientRecord {
  return {
    clientid: s.clientId, username: null, node: host.config.node.name, connected: false,
    ip_address: null, port: null, listener: null, mountpoint: null, proto_name: null, proto_ver: null,
    keepalive: 0, clean_start: false, connected_at: null, ...sessionFields(s),
    is_ssl: false, tls_version: null, tls_cipher: null, sni: null, cert_subject: null, cert_common_name: null,
    cert_issuer: null, cert_serial: null, cert_not_after: null, authenticator: null, expire_at: null,
  }
}

function all (host: ApiHost): ClientRecord[] {
  const out: ClientRecord[] = []
  for (const channel of host.core.clients.values()) if (channel.client && channel.session) out.push(connected(host, channel))
  for (const s of host.core.sessions.values()) if (!s.link) out.push(offline(host, s))
  return out
}

function one (host: ApiHost, clientId: string): ClientRecord | undefined {
  const channel = host.core.clients.get(clientId)
  if (channel?.client && channel.session) return connected(host, channel)
  const s = host.core.sessions.get(clientId)
  return s && !s.link ? offline(host, s) : undefined
}

interface ListQuery {
  clientid?: string[]
  username?: string
  ip_address?: string
  listener?: string
  like_clientid?: string
  like_username?: string
  conn_state?: 'connected' | 'disconnected'
  proto_ver?: number
  clean_start?: boolean
  page: number
  limit: number
}

function matcher (q: ListQuery): (r: ClientRecord) => boolean {
  const tests: ((r: ClientRecord) => boolean)[] = []
  if (q.clientid?.length) { const ids = new Set(q.clientid); tests.push((r) => ids.has(r.clientid as string)) }
  if (q.username !== undefined) tests.push((r) => r.username === q.username)
  if (q.ip_address !== undefined) tests.push((r) => r.ip_address === q.ip_address)
  if (q.listener !== undefined) tests.push((r) => r.listener === q.listener)
  if (q.like_clientid !== undefined) tests.push((r) => (r.clientid as string).includes(q.like_clientid!))
  if (q.like_username !== undefined) tests.push((r) => typeof r.username === 'string' && r.username.includes(q.like_username!))
  if (q.conn_state !== undefined) tests.push((r) => r.connected === (q.conn_state === 'connected'))
  if (q.proto_ver !== undefined) tests.push((r) => r.proto_ver === q.proto_ver)
  if (q.clean_start !== undefined) tests.push((r) => r.clean_start === q.clean_start)
  return (r) => tests.every((test) => test(r))
}

interface IdParams { clientid: string }

export const clientRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const idParams = { type: 'object', properties: { clientid: { type: 'string' } }, required: ['clientid'] }

  app.get<{ Querystring: ListQuery }>('/api/v5/clients', {
    schema: {
      tags: ['Clients'],
      summary: 'Connected clients and kept sessions, filtered and paged',
      querystring: {
        type: 'object',
        properties: {
          clientid: { type: 'array', items: { type: 'string' }, description: 'Exact client id; repeat for several' },
          username: str('Exact user name'),
          ip_address: str('Exact peer address'),
          listener: str('Listener id, e.g. tcp:default'),
          like_clientid: str('Client id contains this'),
          like_username: str('User name contains this'),
          conn_state: { type: 'string', enum: ['connected', 'disconnected'] },
          proto_ver: { type: 'integer', enum: [3, 4, 5] },
          clean_start: { type: 'boolean' },
          ...pageQuery,
        },
      },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: clientSchema }, meta: pageMeta } }, ...errors(400) },
    },
  }, async (request) => {
    const q = request.query
    return paginate(all(host).filter(matcher(q)), q.page, q.limit)
  })

  app.get<{ Params: IdParams }>('/api/v5/clients/:clientid', {
    schema: { tags: ['Clients'], summary: 'One client', params: idParams, response: { 200: clientSchema, ...errors(404) } },
  }, async (request) => {
    const found = one(host, request.params.clientid)
    if (!found) throw new CulexError('CULEX_ERR_API_CLIENT_NOT_FOUND', 'Client ID not found')
    return found
  })

  app.delete<{ Params: IdParams }>('/api/v5/clients/:clientid', {
    schema: {
      tags: ['Clients'],
      summary: 'Kick a client, on whichever node of the cluster holds it: DISCONNECT 0x98 Administrative action (MQTT 5), then its session is discarded',
      params: idParams,
      response: { 204: NO_CONTENT, ...errors(404) },
    },
  }, async (request, reply) => {
    const id = request.params.clientid
    // Not here: the node that holds the client, if another node of the cluster does.
    const kicked = host.core.registry.kick(id) || (await host.cluster?.kick(id)) === true
    if (!kicked) throw new CulexError('CULEX_ERR_API_CLIENT_NOT_FOUND', 'Client ID not found')
    return reply.code(204).send()
  })
}
