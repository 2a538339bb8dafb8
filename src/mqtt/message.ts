// The broker's own message: what was published, independent of any one receiver.
import type { IPublishPacket, QoS } from 'mqtt-packet'

export type PublishProperties = NonNullable<IPublishPacket['properties']>

export interface Message {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  /** MQTT 5 properties as published, without Topic Alias and Subscription Identifier. */
  properties: PublishProperties | undefined
  /** Epoch ms after which the message is not delivered; 0 = never. */
  expiresAt: number
  /** Client id of the publisher (for No Local), undefined for the broker's own messages. */
  origin: string | undefined
  /** Node that accepted the publish (for cluster routing and $SYS). */
  node?: string
  /** Epoch ms the retainer stored this copy (set on retained copies only). */
  retainedAt?: number
  /** User name of the client that published it, on retained copies only (the retainer API's from_username). */
  username?: string
}

export function createMessage (
  topic: string, payload: Buffer, qos: QoS, retain: boolean,
  properties?: PublishProperties, origin?: string, now = Date.now(),
): Message {
  let props = properties
  let expiresAt = 0
  if (props) {
    if (props.topicAlias !== undefined || props.subscriptionIdentifier !== undefined) {
      props = { ...props }
      delete props.topicAlias
      delete props.subscriptionIdentifier
    }
    if (props.messageExpiryInterval !== undefined) expiresAt = now + props.messageExpiryInterval * 1000
    if (Object.keys(props).length === 0) props = undefined
  }
  return { topic, payload, qos, retain, properties: props, expiresAt, origin }
}

export function isExpired (message: Message, now: number): boolean {
  return message.expiresAt !== 0 && message.expiresAt <= now
}

/** Seconds left, rounded up, for the Message Expiry Interval sent onward [MQTT-3.3.2-6]. */
export function remainingExpiry (message: Message, now: number): number {
  return Math.max(1, Math.ceil((message.expiresAt - now) / 1000))
}
