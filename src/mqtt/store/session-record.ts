// A session as data: what the journal writes for a restart and what a cluster node sends to the node
// that takes the session over. One shape for both, so a session means the same on disk and on the wire.
import type { QoS } from 'mqtt-packet'
import type { Message, PublishProperties } from '../message.js'
import type { Delivery, Session } from '../session.js'
import type { SubscriptionOptions } from '../topic-tree.js'

export interface SessionRecord {
  clientId: string
  expiryInterval: number
  subscriptions: [filter: string, options: SubscriptionOptions][]
  /** Epoch ms the client disconnected; absent while connected (a crash then counts from the restart). */
  disconnectedAt?: number
  /** The user name the session belongs to (null: anonymous); absent in records written before it was kept. */
  owner?: string | null
}

/** Session Expiry Interval meaning "never" [MQTT-3.1.2-11]. */
export const NEVER_EXPIRES = 0xffffffff

/** Milliseconds an offline session has left at `now` (Infinity: it never expires; 0 or less: it has expired). */
export function expiryLeft (record: Pick<SessionRecord, 'expiryInterval' | 'disconnectedAt'>, now = Date.now()): number {
  if (record.expiryInterval === NEVER_EXPIRES) return Infinity
  return record.expiryInterval * 1000 - (now - (record.disconnectedAt ?? now))
}

/** A message on its way to a persistent session, as stored. */
export interface MessageRecord {
  topic: string
  payload: Buffer
  /** QoS of the message as published, and of this delivery. */
  publishedQos: QoS
  qos: QoS
  retain: boolean
  properties: PublishProperties | undefined
  expiresAt: number
  origin: string | undefined
  subIds: number[] | undefined
  /** Set once the client sent PUBREC: the PUBREL to resend, under this packet id. */
  pubrelId?: number
  /** Sent and not acknowledged under this packet id (a session handed to another node keeps its ids). */
  packetId?: number
}

/** A whole session on its way to another node: record, deliveries in send order, QoS 2 ids awaiting PUBREL. */
export interface SessionTransfer {
  record: SessionRecord
  messages: MessageRecord[]
  awaitingRel: number[]
}

export function sessionRecord (session: Session, disconnectedAt?: number): SessionRecord {
  const record: SessionRecord = {
    clientId: session.clientId,
    expiryInterval: session.expiryInterval,
    subscriptions: [...session.subscriptions.values()].map((s) => [s.filter, { qos: s.qos, nl: s.nl, rap: s.rap, rh: s.rh, id: s.id, ...(s.exclusive ? { exclusive: true } : {}) }]),
  }
  if (disconnectedAt !== undefined) record.disconnectedAt = disconnectedAt
  if (session.owner !== undefined) record.owner = session.owner
  return record
}

export function messageRecord (d: Delivery): MessageRecord {
  const m = d.message
  return {
    topic: m.topic, payload: m.payload, publishedQos: m.qos, qos: d.qos, retain: d.retain,
    properties: m.properties, expiresAt: m.expiresAt, origin: m.origin, subIds: d.subIds,
  }
}

/** The delivery a record describes: PUBREL owed, in flight under its id, or still to send. */
export function deliveryFrom (r: MessageRecord, key?: string): Delivery {
  const message: Message = { topic: r.topic, payload: r.payload, qos: r.publishedQos, retain: r.retain, properties: r.properties, expiresAt: r.expiresAt, origin: r.origin }
  return {
    message, qos: r.qos, retain: r.retain, subIds: r.subIds, group: undefined,
    packetId: r.pubrelId ?? r.packetId ?? 0, state: r.pubrelId ? 'pubrel' : 'publish', sentAt: 0, key,
  }
}

/** Everything a session holds, for another node to continue it (the client disconnected: now). */
export function serialiseSession (session: Session, now = Date.now()): SessionTransfer {
  const messages: MessageRecord[] = []
  for (const d of session.inflight.values()) {
    const r = messageRecord(d)
    if (d.state === 'pubrel') r.pubrelId = d.packetId
    else r.packetId = d.packetId
    messages.push(r)
  }
  for (const d of session.queued()) messages.push(messageRecord(d))
  return { record: sessionRecord(session, now), messages, awaitingRel: [...session.awaitingRel.keys()] }
}
