// Retained messages in Redis (<prefix>:retained, topic → message), so a node that starts later gets
// those published before it joined. Each node stores what the bus brings in its own retained store;
// the node that accepted the message writes it here.
import type { Redis } from 'ioredis'
import type { Log } from '../log.js'
import { isExpired, type Message } from '../mqtt/message.js'
import { decodeMessage, encodeMessage } from './codec.js'
import type { RedisBus } from './redis-bus.js'

export class RetainedMirror {
  readonly #bus: RedisBus
  readonly #redis: Redis
  readonly #hash: string
  readonly #node: string
  readonly #log: Log

  constructor (bus: RedisBus, prefix: string, node: string, log: Log) {
    this.#bus = bus
    this.#redis = bus.pub
    this.#hash = `${prefix}:retained`
    this.#node = node
    this.#log = log
  }

  /** Writes or (empty payload) clears the topic, without waiting. */
  store (message: Message): void {
    // While Redis is away the bus warned once; a write per retained message would only repeat it.
    if (!this.#bus.ready) return
    const done = message.payload.length === 0
      ? this.#redis.hdel(this.#hash, message.topic)
      : this.#redis.hset(this.#hash, message.topic, encodeMessage(this.#node, message))
    done.catch((err: Error) => this.#log.warning({ topic: message.topic, err: err.message }, 'cluster: retained message not written to Redis'))
  }

  /** The cluster's retained messages still in force. */
  async load (): Promise<Message[]> {
    const all = await this.#redis.hgetallBuffer(this.#hash)
    const now = Date.now()
    const out: Message[] = []
    for (const [topic, data] of Object.entries(all)) {
      try {
        const message = decodeMessage(data)
        if (!isExpired(message, now)) out.push(message)
      } catch (err) {
        this.#log.warning({ topic, err: (err as Error).message }, 'cluster: undecodable retained message in Redis skipped')
      }
    }
    return out
  }
}
