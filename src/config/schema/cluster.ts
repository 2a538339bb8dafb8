// cluster.*: Redis as the shared engine, and EMQX's own keys accepted without effect.
import { z } from 'zod'
import { bool, duration, int } from '../types.js'
import { section, noEffect, nodeList } from './marks.js'

// EMQX's ssl_client_opts, for the TLS of connections Culex does not make (etcd discovery).
const sslClientShape = {
  enable: bool().default(false),
  cacertfile: z.string().optional(),
  cacerts: bool().optional(),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  verify: z.enum(['verify_none', 'verify_peer']).default('verify_none'),
  reuse_sessions: bool().default(true),
  depth: int().default(10),
  password: z.string().optional(),
  versions: z.array(z.string()).optional(),
  ciphers: z.union([z.string(), z.array(z.string())]).optional(),
  secure_renegotiate: bool().default(true),
  log_level: z.string().default('notice'),
  hibernate_after: duration().prefault('5s'),
  server_name_indication: z.string().optional(),
  user_lookup_fun: z.string().optional(),
  partial_chain: z.union([z.boolean(), z.string()]).optional(),
  verify_peer_ext_key_usage: z.string().optional(),
}

const REDIS_SERVER = /^(\[[0-9a-fA-F:.]+\]|[^\s:,]+)(:\d{1,5})?$/

export const cluster = section({
  backend: z.enum(['none', 'redis']).default('none').describe('none: a single node. redis: nodes sharing one Redis form a cluster (messages, retained messages, shared subscription groups, session takeover, kicks, bans and management API changes reach every node; the persistent sessions of a node that stops are adopted by another).'),
  redis: section({
    servers: z.string().regex(REDIS_SERVER, 'expected "host:port", e.g. "127.0.0.1:6379"').default('127.0.0.1:6379').describe('Redis server, "host:port" (port 6379 when omitted).'),
    password: z.string().default('').describe('Redis password (AUTH); empty = none.'),
    username: z.string().default('').describe('Redis ACL user name; empty = the default user.'),
    database: int().pipe(z.number().min(0)).default(0).describe('Redis database number (SELECT) for the cluster\'s hashes; channels are server-wide, see key_prefix.'),
    key_prefix: z.string().min(1).default('culex').describe('Prefix of every key and channel the cluster uses: clusters sharing one Redis need different prefixes.'),
    tls: section({
      enable: bool().default(false).describe('Connect to Redis over TLS.'),
      cacertfile: z.string().optional().describe('PEM file of the CAs that verify the Redis server.'),
      certfile: z.string().optional().describe('Client certificate (PEM) for Redis servers that ask for one.'),
      keyfile: z.string().optional().describe('Key of certfile (PEM).'),
      verify: z.enum(['verify_peer', 'verify_none']).default('verify_peer').describe('verify_peer checks the Redis server\'s certificate and name; verify_none does not.'),
    }).describe('TLS to Redis.'),
  }).describe('The Redis server every node of the cluster uses.'),
  heartbeat_interval: duration().prefault('1s').describe('How often a node tells Redis it is alive.'),
  node_timeout: duration().prefault('5s').describe('A node silent this long is considered stopped: session takeovers do not wait for it, another node adopts its persistent sessions, /api/v5/nodes shows it stopped.'),
  // EMQX's own cluster keys: Erlang distribution and node discovery.
  ...emqxClusterKeys(),
})

function emqxClusterKeys () {
  const why = 'Culex nodes find each other through cluster.backend = redis, not Erlang distribution.'
  const keys = {
    name: z.string().default('emqxcl'),
    discovery_strategy: z.enum(['manual', 'static', 'singleton', 'dns', 'etcd', 'k8s']).default('manual'),
    autoclean: duration().prefault('24h'),
    autoheal: bool().default(true),
    proto_dist: z.enum(['inet_tcp', 'inet6_tcp', 'inet_tls', 'inet6_tls']).default('inet_tcp'),
    quic_lb_mode: z.union([int(), z.string()]).default(0),
    static: section({ seeds: nodeList().default([]) }),
    dns: section({ name: z.string().default('localhost'), record_type: z.enum(['a', 'aaaa', 'srv']).default('a') }),
    etcd: section({
      server: z.union([z.string(), z.array(z.string())]).optional(),
      prefix: z.string().default('emqxcl'),
      node_ttl: duration().prefault('1m'),
      ssl_options: section(sslClientShape),
    }),
    k8s: section({
      apiserver: z.string().default('https://kubernetes.default.svc:443'),
      service_name: z.string().default('emqx'),
      address_type: z.enum(['ip', 'dns', 'hostname']).default('ip'),
      namespace: z.string().default('default'),
      suffix: z.string().default('pod.local'),
    }),
    prevent_overlapping_partitions: bool().default(false),
  }
  return Object.fromEntries(Object.entries(keys).map(([key, schema]) => [key, noEffect(schema, why)])) as { [K in keyof typeof keys]: typeof keys[K] }
}
