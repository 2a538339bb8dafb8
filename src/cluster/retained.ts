// Retained messages in the cluster store (<prefix>:retained, topic → message), so a node that starts later gets
// those published before it joined. Each node stores what the bus brings in its own retained store;
// the node that accepted the message writes it here.
import type { Log } from '../log.js'
import { isExpired, type Message } from '../mqtt/message.js'
import { decodeMessage, encodeMessage } from './codec.js'
import type { PeerBus } from './peer-bus.js'
import type { ClusterStore } from './store.js'

export class RetainedMirror {
  readonly #bus: PeerBus
  readonly #store: ClusterStore
  readonly #hash: string
  readonly #node: string
  readonly #log: Log

  constructor (bus: PeerBus, store: ClusterStore, prefix: string, node: string, log: Log) {
    this.#bus = bus
    this.#store = store
    this.#hash = `${prefix}:retained`
    this.#node = node
    this.#log = log
  }

  /** Writes or (empty payload) clears the topic, without waiting. */
  store (message: Message): void {
    // While the store is away the bus warned once; a write per retained message would only repeat it.
    if (!this.#bus.ready) return
    const done = message.payload.length === 0
      ? this.#store.write(['hdel', this.#hash, message.topic])
      : this.#store.write(['hset', this.#hash, message.topic, encodeMessage(this.#node, message)])
    done.catch((err: Error) => this.#log.warning({ topic: message.topic, err: err.message }, 'cluster: retained message not written to the cluster store'))
  }

  /** The cluster's retained messages still in force. */
  async load (): Promise<Message[]> {
    const all = await this.#store.hgetallBuffer(this.#hash)
    const now = Date.now()
    const out: Message[] = []
    for (const [topic, data] of Object.entries(all)) {
      try {
        const message = decodeMessage(data)
        if (!isExpired(message, now)) out.push(message)
      } catch (err) {
        this.#log.warning({ topic, err: (err as Error).message }, 'cluster: undecodable retained message in the cluster store skipped')
      }
    }
    return out
  }
}
