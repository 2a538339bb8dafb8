// The message bus of a Redis cluster: a message accepted here is delivered here at once and PUBLISHed
// to <prefix>:msg for the other nodes (those of one event-loop turn in one PUBLISH); what they publish
// comes back through a second, subscribed connection. Publishing never waits on Redis or throws: while Redis is away, local clients are
// served and what other nodes should have had is lost (one warning per outage).
import { Redis, type RedisOptions } from 'ioredis'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { MessageBus } from '../mqtt/bus.js'
import type { Message } from '../mqtt/message.js'
import { decodeBus, encodeBatch, encodeMessage, type Envelope, type WireShares } from './codec.js'
import type { SharePlan } from './shared.js'

const NO_GROUPS: ReadonlySet<string> = new Set()

/** How long close() waits for the owner's last writes. */
const LAST_WRITES_MS = 2000

export interface RedisBusOptions {
  redis: RedisOptions
  /** cluster.redis.servers as configured, for log lines and errors. */
  servers: string
  prefix: string
  node: string
  log: Log
}

export class RedisBus implements MessageBus {
  /** Commands and PUBLISH. */
  readonly pub: Redis
  /** SUBSCRIBE only (a subscribed Redis connection takes no other command). */
  readonly sub: Redis
  readonly servers: string
  readonly #node: string
  readonly #log: Log
  readonly #channel: string
  readonly #handlers = new Map<string, (payload: Buffer) => void>()
  #deliver: (message: Message, groups?: ReadonlySet<string>) => void = () => {}
  #plan: (message: Message, remoteReachable: boolean) => SharePlan | undefined = () => undefined
  #connected = false
  #down = false
  #closed = false
  #beforeClose: (() => Promise<void>) | null = null
  /** Encoded messages waiting for the end of this event-loop turn. */
  #batch: Buffer[] = []
  readonly #flush = (): void => {
    const batch = this.#batch
    if (batch.length === 0) return
    this.#batch = []
    this.send(this.#channel, batch.length === 1 ? batch[0]! : encodeBatch(batch))
  }

  constructor (opts: RedisBusOptions) {
    this.servers = opts.servers
    this.#node = opts.node
    this.#log = opts.log
    this.#channel = `${opts.prefix}:msg`
    this.pub = new Redis({ ...opts.redis, connectionName: `culex:${opts.node}:pub` })
    this.sub = new Redis({ ...opts.redis, connectionName: `culex:${opts.node}:sub` })
    for (const conn of [this.pub, this.sub]) {
      conn.on('error', (err: Error) => this.#outage(err))
      conn.on('ready', () => this.#back())
    }
    this.#handlers.set(this.#channel, (payload) => this.#receive(payload))
    this.sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.#handlers.get(channel.toString())?.(payload))
  }

  /** Whether commands can be sent now. */
  get ready (): boolean {
    return this.pub.status === 'ready' && !this.#closed
  }

  /** Another channel to listen to on the subscribed connection; call before connect(). */
  listen (channel: string, handler: (payload: Buffer) => void): void {
    this.#handlers.set(channel, handler)
  }

  /** Opens both connections and subscribes; refuses (CULEX_ERR_CLUSTER) when Redis does not answer in time. */
  async connect (timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      await Promise.race([Promise.all([this.pub.connect(), this.sub.connect()]), timeout])
      await Promise.race([this.sub.subscribe(...this.#handlers.keys()), timeout])
    } catch (err) {
      this.pub.disconnect()
      this.sub.disconnect()
      throw new CulexError('CULEX_ERR_CLUSTER', `cannot reach Redis at cluster.redis.servers = ${this.servers}: ${(err as Error).message}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
    this.#connected = true
  }

  /** Who serves the `$share` groups a message matches (the cluster's shared view); set before publishing. */
  sharePlanner (plan: (message: Message, remoteReachable: boolean) => SharePlan | undefined): void {
    this.#plan = plan
  }

  publish (message: Message): void {
    const ready = this.ready
    const plan = this.#plan(message, ready)
    this.#deliver(message, plan ? groupsOf(plan.get(this.#node)) : NO_GROUPS)
    if (!ready) { this.#outage(); return }
    let shares: WireShares | undefined
    if (plan) {
      shares = []
      for (const [node, keys] of plan) if (node !== this.#node) shares.push([node, keys])
    }
    let payload: Buffer
    try {
      payload = encodeMessage(this.#node, message, shares)
    } catch (err) {
      this.#log.error({ err, topic: message.topic }, 'cluster: message not encodable; delivered on this node only')
      return
    }
    if (this.#batch.length === 0) setImmediate(this.#flush)
    this.#batch.push(payload)
  }

  /** PUBLISH without waiting; while Redis is away the payload is dropped. */
  send (channel: string, payload: Buffer): void {
    if (!this.ready) { this.#outage(); return }
    this.pub.publish(channel, payload).catch((err: Error) => this.#outage(err))
  }

  onMessage (deliver: (message: Message, groups?: ReadonlySet<string>) => void): void {
    this.#deliver = deliver
  }

  /** Runs once, just before the connections close: the owner's last writes. */
  beforeClose (fn: () => Promise<void>): void {
    this.#beforeClose = fn
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#flush()
    const last = this.#beforeClose
    this.#beforeClose = null
    if (last && this.ready) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, LAST_WRITES_MS) })
      const done = last().catch((err: unknown) => this.#log.warning({ err }, `cluster: last writes to Redis failed: ${(err as Error).message}`))
      await Promise.race([done, late])
      clearTimeout(timer)
    }
    this.#closed = true
    await Promise.all([quit(this.pub), quit(this.sub)])
  }

  #receive (payload: Buffer): void {
    let envelopes: Envelope[]
    try {
      envelopes = decodeBus(payload)
    } catch (err) {
      this.#log.warning({ err }, 'cluster: undecodable message on the bus ignored')
      return
    }
    for (const { message, shares } of envelopes) {
      if (message.node === this.#node) continue
      let groups = NO_GROUPS
      if (shares) for (const [node, keys] of shares) if (node === this.#node) groups = groupsOf(keys)
      try {
        this.#deliver(message, groups)
      } catch (err) {
        this.#log.error({ err, topic: message.topic, node: message.node }, 'cluster: routing a message from another node failed')
      }
    }
  }

  #outage (err?: Error): void {
    if (!this.#connected || this.#closed || this.#down) return
    this.#down = true
    this.#log.warning({ servers: this.servers, err: err?.message },
      'cluster: Redis is unreachable; local clients are served, messages to and from other nodes are lost until it is back')
  }

  #back (): void {
    if (!this.#down || this.pub.status !== 'ready' || this.sub.status !== 'ready') return
    this.#down = false
    this.#log.notice({ servers: this.servers }, 'cluster: Redis is reachable again')
  }
}

function groupsOf (keys: string[] | undefined): ReadonlySet<string> {
  return keys === undefined ? NO_GROUPS : new Set(keys)
}

/** QUIT after the replies still owed, bounded; a connection that is not up is just dropped. */
async function quit (conn: Redis): Promise<void> {
  if (conn.status !== 'ready') { conn.disconnect(); return }
  const timer = setTimeout(() => conn.disconnect(), 1000)
  try {
    await conn.quit()
  } catch {
    conn.disconnect()
  } finally {
    clearTimeout(timer)
  }
}
