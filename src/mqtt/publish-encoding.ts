// A PUBLISH as one client is sent it: its mountpoint taken off, the Message Expiry Interval left, its
// Subscription Identifiers, and the Topic Alias the broker assigned (MQTT 5).
import mqtt, { type IPublishPacket } from 'mqtt-packet'
import { remainingExpiry, type PublishProperties } from './message.js'
import { encodePlainPublish } from './packet-encoder.js'
import type { Delivery } from './session.js'

/** The Topic Aliases the broker assigned one client: first come, first served up to its Topic Alias Maximum. */
export class OutgoingAliases {
  readonly #byTopic = new Map<string, number>()
  constructor (readonly max: number) {}

  get size (): number { return this.#byTopic.size }

  /** Sets `props.topicAlias`; returns the topic to send: empty once the client knows the alias. */
  apply (topic: string, props: PublishProperties): string {
    const known = this.#byTopic.get(topic)
    if (known !== undefined) { props.topicAlias = known; return '' }
    if (this.#byTopic.size < this.max) {
      const alias = this.#byTopic.size + 1
      this.#byTopic.set(topic, alias)
      props.topicAlias = alias
    }
    return topic
  }

  /** Forgets the alias assigned after there were `size`: its packet never reached the client. */
  forgetSince (size: number): void {
    if (this.#byTopic.size > size) this.#byTopic.delete([...this.#byTopic.keys()].at(-1)!)
  }
}

export interface PublishTarget {
  readonly protocolVersion: number
  readonly mountpoint: string
  /** Null while the client allows no aliases. */
  readonly aliases: OutgoingAliases | null
}

export function encodePublish (d: Delivery, dup: boolean, to: PublishTarget): Buffer {
  const m = d.message
  const { mountpoint, aliases } = to
  let topic = mountpoint && m.topic.startsWith(mountpoint) ? m.topic.slice(mountpoint.length) : m.topic
  const v5 = to.protocolVersion === 5
  if (v5) {
    let props: PublishProperties | undefined = m.properties
    if (m.expiresAt !== 0 || d.subIds !== undefined || aliases !== null) {
      props = { ...props }
      if (m.expiresAt !== 0) props.messageExpiryInterval = remainingExpiry(m, Date.now())
      if (d.subIds !== undefined) props.subscriptionIdentifier = d.subIds.length === 1 ? d.subIds[0]! : d.subIds
      if (aliases !== null) topic = aliases.apply(topic, props)
    }
    if (props && hasProperties(props)) {
      const packet: IPublishPacket = { cmd: 'publish', topic, payload: m.payload, qos: d.qos, retain: d.retain, dup, properties: props }
      if (d.qos > 0) packet.messageId = d.packetId
      return mqtt.generate(packet, { protocolVersion: 5 })
    }
  }
  return encodePlainPublish(topic, m.payload, d.qos, d.retain, dup, d.packetId, v5)
}

function hasProperties (props: PublishProperties): boolean {
  for (const key in props) if ((props as Record<string, unknown>)[key] !== undefined) return true
  return false
}
