// The bus of a Redis cluster (src/cluster/peer-bus.ts over Redis pub/sub): payloads are PUBLISHed on
// <prefix>:<channel> by one connection and come back through a second, subscribed one. The first also
// carries the cluster store's commands (src/cluster/redis-store.ts).
import { Redis, type RedisOptions } from 'ioredis'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import { PeerBus } from './peer-bus.js'
import { RedisStore } from './redis-store.js'

export interface RedisBusOptions {
  redis: RedisOptions
  /** cluster.redis.servers as configured, for log lines and errors. */
  servers: string
  prefix: string
  node: string
  log: Log
}

export class RedisBus extends PeerBus {
  /** Commands and PUBLISH. */
  readonly pub: Redis
  /** SUBSCRIBE only (a subscribed Redis connection takes no other command). */
  readonly sub: Redis
  readonly store: RedisStore
  readonly servers: string
  readonly where: string
  protected readonly carrier = 'Redis'
  /** Bytes of PUBLISH commands Redis has not answered yet. */
  #unsent = 0

  constructor (opts: RedisBusOptions) {
    super(opts.prefix, opts.node, opts.log)
    this.servers = opts.servers
    this.where = `Redis (cluster.redis.servers = ${opts.servers})`
    this.pub = new Redis({ ...opts.redis, connectionName: `culex:${opts.node}:pub` })
    this.sub = new Redis({ ...opts.redis, connectionName: `culex:${opts.node}:sub` })
    this.store = new RedisStore(this.pub)
    for (const conn of [this.pub, this.sub]) {
      conn.on('error', (err: Error) => this.outage(err))
      // A lone node sends nothing to Redis, and ioredis reports 'error' only once a reconnection fails: the
      // closed connection is what says at once that Redis went away.
      conn.on('close', () => this.outage(new CulexError('CULEX_ERR_CLUSTER_BUS', 'connection closed')))
      conn.on('ready', () => { if (this.sub.status === 'ready') this.back() })
    }
    this.sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.receive(channel.toString(), payload))
  }

  get ready (): boolean {
    return this.pub.status === 'ready' && !this.closed
  }

  /** Opens both connections and subscribes; refuses (CULEX_ERR_CLUSTER) when Redis does not answer in time. */
  async connect (timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new CulexError('CULEX_ERR_CLUSTER_BUS', `no answer within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      await Promise.race([Promise.all([this.pub.connect(), this.sub.connect()]), timeout])
      await Promise.race([this.sub.subscribe(...this.channels), timeout])
    } catch (err) {
      this.pub.disconnect()
      this.sub.disconnect()
      throw new CulexError('CULEX_ERR_CLUSTER', `cannot reach Redis at cluster.redis.servers = ${this.servers}: ${(err as Error).message}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
    this.connected()
  }

  protected transmit (channel: string, payload: Buffer): void {
    const bytes = payload.length
    this.#unsent += bytes
    this.pub.publish(channel, payload).catch((err: Error) => this.outage(err)).finally(() => {
      this.#unsent -= bytes
      this.eased()
    })
  }

  protected override get backlog (): number {
    return this.#unsent
  }

  protected async disconnect (): Promise<void> {
    await Promise.all([quit(this.pub), quit(this.sub)])
  }
}

/** QUIT after the replies still owed, bounded; a connection that is not up is just dropped. */
async function quit (conn: Redis): Promise<void> {
  if (conn.status !== 'ready') { conn.disconnect(); return }
  const timer = setTimeout(() => conn.disconnect(), 1000)
  try {
    await conn.quit()
  } catch {
    // QUIT failed (connection lost meanwhile): nothing owed can arrive any more, so just drop it.
    conn.disconnect()
  } finally {
    clearTimeout(timer)
  }
}
