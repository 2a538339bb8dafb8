// Connection options of the identity backends (EMQX's connector fields), shared by the authenticators
// (password_based with backend = http | redis | postgresql) and the authorization sources of those types.
// Each piece is a zod shape to spread into an authenticator's or a source's object.
import { z } from 'zod'
import { bool, duration, int } from '../types.js'
import { noEffect, stringList } from './marks.js'
import { TLS_VERSIONS } from './tls.js'

/** "host", "host:port", "[::1]:port": the host and the port (`defaultPort` when none). */
export interface ServerAddress { host: string, port: number }

export function parseServer (text: string, defaultPort: number): ServerAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+))(?::(\d{1,5}))?$/.exec(text.trim())
  if (!m) return undefined
  const port = m[3] === undefined ? defaultPort : Number(m[3])
  if (port < 1 || port > 65535) return undefined
  return { host: m[1] ?? m[2]!, port }
}

const serverMessage = (v: unknown, defaultPort: number) => `expected "host:port" (the port defaults to ${defaultPort}), got ${JSON.stringify(v)}`

/** One server address, kept as written (the API shows it so) and checked here. */
export const server = (defaultPort: number) => z.string().superRefine((v, ctx) => {
  if (!parseServer(v, defaultPort)) ctx.addIssue({ code: 'custom', message: serverMessage(v, defaultPort) })
})

/** Several server addresses: "h1:p1,h2:p2" or a list, as EMQX's servers. */
export const servers = (defaultPort: number) => stringList().superRefine((list, ctx) => {
  if (list.length === 0) ctx.addIssue({ code: 'custom', message: 'expected at least one "host:port"' })
  for (const v of list) if (!parseServer(v, defaultPort)) ctx.addIssue({ code: 'custom', message: serverMessage(v, defaultPort) })
})

// EMQX's ssl_client_opts: the TLS a backend connection uses when enable = true.
export const clientSsl = z.strictObject({
  enable: bool().default(false).describe('Connect with TLS.'),
  cacertfile: z.string().optional().describe('PEM file of the CAs that may sign the server\'s certificate.'),
  certfile: z.string().optional().describe('PEM file of the client certificate (with its intermediates), for servers that ask for one.'),
  keyfile: z.string().optional().describe('PEM file of the client certificate\'s private key.'),
  password: z.string().optional().describe('Passphrase of an encrypted keyfile.'),
  verify: z.enum(['verify_none', 'verify_peer']).default('verify_none').describe('verify_peer checks the server certificate against cacertfile (EMQX\'s default for clients is verify_none).'),
  server_name_indication: z.string().optional().describe('Server name sent in the handshake and checked against the certificate; "disable" sends none. Default: the host of the address.'),
  versions: z.array(z.enum(TLS_VERSIONS)).min(1).default(['tlsv1.3', 'tlsv1.2']).describe('TLS versions offered.'),
  ciphers: stringList().default([]).describe('Cipher suites, OpenSSL or IANA names; empty = OpenSSL defaults.'),
  depth: int().pipe(z.number().min(0)).default(10).describe('Accepted for EMQX compatibility; Node checks the whole chain.'),
  reuse_sessions: noEffect(bool().default(true), 'Node resumes TLS sessions on its own.'),
  secure_renegotiate: noEffect(bool().default(true), 'Node never allows insecure renegotiation.'),
  log_level: noEffect(z.string().default('notice'), 'TLS failures are logged with the backend\'s other failures.'),
  hibernate_after: noEffect(duration().prefault('5s'), 'an Erlang process setting.'),
  cacerts: noEffect(bool().default(false), 'cacertfile names the CAs.'),
  user_lookup_fun: noEffect(z.string().optional(), 'an Erlang function name.'),
  partial_chain: noEffect(z.union([z.boolean(), z.string()]).optional(), 'Node verifies the chain up to a CA of cacertfile.'),
  verify_peer_ext_key_usage: noEffect(z.string().optional(), 'a server-side check.'),
  middlebox_comp_mode: noEffect(bool().optional(), 'an Erlang ssl setting.'),
}).prefault({ enable: false }).describe('TLS to the backend: enable, cacertfile, certfile, keyfile (client certificate), verify, server_name_indication, versions, ciphers.')

export type ClientSslConfig = z.output<typeof clientSsl>

const poolSize = () => int().pipe(z.number().min(1)).default(8)
const deprecated = (what: string) => noEffect(z.unknown().optional(), `deprecated in EMQX (${what}).`)

/** EMQX's HTTP connector fields (emqx_bridge_http_connector), less the request itself. */
export const httpConnectionShape = {
  connect_timeout: duration().prefault('15s').describe('Timeout of opening a connection to the server.'),
  request_timeout: duration().prefault('5s').describe('Timeout of one request, connection included; past it the request counts as failed (ignore).'),
  pool_size: poolSize().describe('Most connections kept open to the server (keep-alive).'),
  pool_type: z.enum(['random', 'hash']).default('random').describe('Accepted for EMQX compatibility; requests go to the first free connection.'),
  enable_pipelining: int().pipe(z.number().min(1)).default(100).describe('Most requests in flight on one connection (HTTP/1.1 pipelining; 1: none).'),
  max_retries: deprecated('since 5.0.4'),
  retry_interval: deprecated('since 5.0.4'),
  request: noEffect(z.unknown().optional(), 'the authenticator\'s own method, url, headers and body make the request.'),
  ssl: clientSsl,
}

export const REDIS_PORT = 6379
export const POSTGRES_PORT = 5432

const redisCommon = {
  pool_size: poolSize().describe('Accepted for EMQX compatibility: commands share one multiplexed (pipelined) connection per server.'),
  username: z.string().optional().describe('Redis 6 ACL user name.'),
  password: z.string().optional().describe('Redis password (AUTH).'),
  auto_reconnect: deprecated('since v5.0.15; Culex always reconnects'),
  ssl: clientSsl,
}
const database = () => int().pipe(z.number().min(0)).default(0).describe('Redis database number (SELECT).')

/** EMQX's redis_single / redis_sentinel / redis_cluster fields, keyed by redis_type. */
export const redisSingleShape = {
  redis_type: z.literal('single'),
  server: server(REDIS_PORT).describe('Redis server, "host:port" (port 6379 when omitted).'),
  database: database(),
  ...redisCommon,
}
export const redisSentinelShape = {
  redis_type: z.literal('sentinel'),
  servers: servers(REDIS_PORT).describe('Sentinels, "h1:26379,h2:26379" or a list.'),
  sentinel: z.string().min(1).describe('Name of the master the sentinels watch.'),
  database: database(),
  ...redisCommon,
}
export const redisClusterShape = {
  redis_type: z.literal('cluster'),
  servers: servers(REDIS_PORT).describe('Cluster nodes to start from, "h1:6379,h2:6379" or a list.'),
  ...redisCommon,
}

/** What the Redis backend needs of a config, whichever redis_type. */
export type RedisConnectionConfig =
  | z.output<z.ZodObject<typeof redisSingleShape>>
  | z.output<z.ZodObject<typeof redisSentinelShape>>
  | z.output<z.ZodObject<typeof redisClusterShape>>

/** EMQX's PostgreSQL connector fields. */
export const postgresConnectionShape = {
  server: server(POSTGRES_PORT).describe('PostgreSQL server, "host:port" (port 5432 when omitted).'),
  database: z.string().min(1).describe('Database name.'),
  username: z.string().min(1).describe('User name to log in with.'),
  password: z.string().optional().describe('Password to log in with.'),
  pool_size: poolSize().describe('Most connections open at once.'),
  disable_prepared_statements: bool().default(false).describe('Send each query unnamed instead of as a prepared statement (for poolers such as PgBouncer in transaction mode). Parameters are bound either way.'),
  auto_reconnect: deprecated('since v5.0.15; Culex always reconnects'),
  ssl: clientSsl,
}

export type HttpConnectionConfig = z.output<z.ZodObject<typeof httpConnectionShape>>
export type PostgresConnectionConfig = z.output<z.ZodObject<typeof postgresConnectionShape>>
