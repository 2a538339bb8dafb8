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

/** A Map that keeps the sum of its values' sizes (`bytes`) through every set, delete and clear. */
export class SizedMap<K, V> extends Map<K, V> {
  bytes = 0
  readonly #sizeOf: (value: V) => number

  constructor (sizeOf: (value: V) => number) {
    super()
    this.#sizeOf = sizeOf
  }

  override set (key: K, value: V): this {
    const old = super.get(key)
    if (old !== undefined) this.bytes -= this.#sizeOf(old)
    this.bytes += this.#sizeOf(value)
    return super.set(key, value)
  }

  override delete (key: K): boolean {
    const old = super.get(key)
    if (old === undefined) return false
    this.bytes -= this.#sizeOf(old)
    return super.delete(key)
  }

  override clear (): void {
    this.bytes = 0
    super.clear()
  }
}
