// What one client pins in the broker's memory, in bytes: its topic aliases, subscriptions, queued and
// in-flight messages, will, and the partial packet being read. Node has no heap per connection as Erlang
// has per process, so force_shutdown.max_heap_size bounds this estimate instead (and, separately, the
// data written to the client and not yet sent: a slow consumer).
// The estimates count what the client sent (string and payload lengths) plus a fixed cost per entry for
// the objects that hold it; a message queued for several clients counts in full for each of them.
import type { CulexConfig } from '../config/schema.js'
import type { Message } from './message.js'

/** Map entry, Delivery object and the message's own fields. */
const DELIVERY_OVERHEAD = 160
/** Subscription object, its entries in the session and in the topic tree. */
const SUBSCRIPTION_OVERHEAD = 256
/** A topic tree node per level of a filter (its object and children Map). */
const LEVEL_OVERHEAD = 64
/** The alias map's entry. */
const ALIAS_OVERHEAD = 48

/** The bytes one client may pin (force_shutdown.max_heap_size), Infinity when force_shutdown is off or the size 0. */
export function memoryBudget (config: CulexConfig): number {
  const force = config.force_shutdown
  return force.enable && force.max_heap_size > 0 ? force.max_heap_size : Number.POSITIVE_INFINITY
}

export function messageBytes (m: Message): number {
  const props = m.properties
  return m.topic.length + m.payload.length + (props === undefined ? 0 : propertyBytes(props))
}

function propertyBytes (props: NonNullable<Message['properties']>): number {
  let n = 32
  if (props.contentType !== undefined) n += props.contentType.length
  if (props.responseTopic !== undefined) n += props.responseTopic.length
  if (props.correlationData !== undefined) n += props.correlationData.length
  const user = props.userProperties
  if (user !== undefined) {
    for (const key in user) {
      const value = user[key]!
      n += key.length + (Array.isArray(value) ? value.reduce((s, v) => s + v.length, 0) : value.length)
    }
  }
  return n
}

/** Bytes beyond its own that a payload may keep alive before it is copied out (see ownPayload). */
const SHARED_SLACK = 1024

/**
 * A payload read straight from the socket is a view into the whole chunk it came in (up to 64 KiB of
 * whatever else the client sent). A message kept for long (queued, retained) gets a payload of its own,
 * once, so that it pins only its bytes. Messages in flight are left as they are (the hot path; their
 * number is bounded by mqtt.max_inflight).
 */
export function ownPayload (m: Message): void {
  const payload = m.payload
  if (payload.buffer.byteLength - payload.length <= SHARED_SLACK) return
  const own = Buffer.allocUnsafeSlow(payload.length)
  payload.copy(own)
  m.payload = own
}

export function deliveryBytes (d: { message: Message }): number {
  return DELIVERY_OVERHEAD + messageBytes(d.message)
}

export function subscriptionBytes (sub: { filter: string }): number {
  let levels = 1
  for (let i = sub.filter.indexOf('/'); i !== -1; i = sub.filter.indexOf('/', i + 1)) levels++
  return SUBSCRIPTION_OVERHEAD + 2 * sub.filter.length + LEVEL_OVERHEAD * levels
}

export function aliasBytes (topic: string): number {
  return ALIAS_OVERHEAD + topic.length
}

const NOTHING: readonly never[] = []

/**
 * A Map that keeps the sum of its values' sizes (`bytes`) through every set, delete and clear. Its Map is
 * made at the first set: most sessions never hold a message in flight, and an empty Map costs about 200
 * bytes per connection (BENCHMARKS.md, memory per idle TLS connection).
 */
export class SizedMap<K, V> implements Iterable<[K, V]> {
  bytes = 0
  #map: Map<K, V> | null = null
  readonly #sizeOf: (value: V) => number

  constructor (sizeOf: (value: V) => number) {
    this.#sizeOf = sizeOf
  }

  get size (): number { return this.#map === null ? 0 : this.#map.size }

  get (key: K): V | undefined { return this.#map?.get(key) }

  has (key: K): boolean { return this.#map !== null && this.#map.has(key) }

  set (key: K, value: V): this {
    const map = this.#map ??= new Map()
    const old = map.get(key)
    if (old !== undefined) this.bytes -= this.#sizeOf(old)
    this.bytes += this.#sizeOf(value)
    map.set(key, value)
    return this
  }

  delete (key: K): boolean {
    const old = this.#map?.get(key)
    if (old === undefined) return false
    this.bytes -= this.#sizeOf(old)
    return this.#map!.delete(key)
  }

  clear (): void {
    this.bytes = 0
    this.#map?.clear()
    this.#map = null
  }

  keys (): IterableIterator<K> { return this.#map === null ? NOTHING.values() : this.#map.keys() }

  values (): IterableIterator<V> { return this.#map === null ? NOTHING.values() : this.#map.values() }

  entries (): IterableIterator<[K, V]> { return this.#map === null ? NOTHING.values() : this.#map.entries() }

  forEach (fn: (value: V, key: K) => void): void { this.#map?.forEach(fn) }

  [Symbol.iterator] (): IterableIterator<[K, V]> { return this.entries() }
}
