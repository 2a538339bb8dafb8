// cluster.redis → ioredis options. Commands fail at once while Redis is away instead of queueing:
// the broker keeps serving its own clients and never waits on Redis for an MQTT packet.
import type { RedisOptions } from 'ioredis'
import type { ClusterConfig } from '../config/schema.js'
import { readTlsFiles } from '../config/tls-files.js'
import { CulexError } from '../errors.js'

/** How long start-up waits for Redis before refusing to start. */
export const CONNECT_TIMEOUT_MS = 5000

/** "host:port", "[::1]:port" or "host" (port 6379). */
export function redisAddress (servers: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(servers.trim())
  const port = Number(m?.[3] ?? 6379)
  if (!m || port < 1 || port > 65535) throw new CulexError('CULEX_ERR_CLUSTER', `cluster.redis.servers: expected "host:port", got ${JSON.stringify(servers)}`)
  return { host: m[1] ?? m[2]!, port }
}

export function redisOptions (redis: ClusterConfig['redis']): RedisOptions {
  const options: RedisOptions = {
    ...redisAddress(redis.servers),
    db: redis.database,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  }
  if (redis.password) options.password = redis.password
  if (redis.username) options.username = redis.username
  if (redis.tls.enable) options.tls = tlsOptions(redis.tls)
  return options
}

function tlsOptions (tls: ClusterConfig['redis']['tls']): NonNullable<RedisOptions['tls']> {
  return { rejectUnauthorized: tls.verify === 'verify_peer', ...readTlsFiles(tls, 'cluster.redis.tls', 'CULEX_ERR_CLUSTER') }
}
