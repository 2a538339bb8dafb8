// What nodes say to each other through Redis, in MessagePack (msgpackr, which lmdb already brings):
// binary payloads travel as they are, without base64.
import { Packr } from 'msgpackr'
import type { Message } from '../mqtt/message.js'

const packr = new Packr({ useRecords: false })

export function pack (value: unknown): Buffer {
  return packr.pack(value)
}

export function unpack<T> (data: Buffer): T {
  return packr.unpack(data) as T
}

type WireMessage = [node: string, topic: string, payload: Buffer, qos: Message['qos'], retain: boolean,
  properties: Message['properties'] | null, expiresAt: number, origin: string | null]

/** A message as the bus and the retained hash carry it, naming the node that accepted it. */
export function encodeMessage (node: string, m: Message): Buffer {
  const wire: WireMessage = [node, m.topic, m.payload, m.qos, m.retain, m.properties ?? null, m.expiresAt, m.origin ?? null]
  return packr.pack(wire)
}

export function decodeMessage (data: Buffer): Message {
  const [node, topic, payload, qos, retain, properties, expiresAt, origin] = packr.unpack(data) as WireMessage
  if (typeof topic !== 'string' || !Buffer.isBuffer(payload)) throw new Error('not a cluster message')
  return { topic, payload, qos, retain, properties: properties ?? undefined, expiresAt, origin: origin ?? undefined, node }
}
