// What nodes say to each other through Redis, in MessagePack (msgpackr, which lmdb already brings):
// binary payloads travel as they are, without base64.
import { Packr } from 'msgpackr'
import { CulexError } from '../errors.js'
import type { Message } from '../mqtt/message.js'

const packr = new Packr({ useRecords: false })

export function pack (value: unknown): Buffer {
  return packr.pack(value)
}

export function unpack<T> (data: Buffer): T {
  return packr.unpack(data) as T
}

/** Which node delivers to which shared groups (src/cluster/shared.ts), as [node, group keys] pairs. */
export type WireShares = [node: string, keys: string[]][]

export type WireMessage = [node: string, topic: string, payload: Buffer, qos: Message['qos'], retain: boolean,
  properties: Message['properties'] | null, expiresAt: number, origin: string | null, shares?: WireShares]

/** A message as the bus and the retained hash carry it, naming the node that accepted it (and, on the bus, who serves its shared groups). */
export function encodeMessage (node: string, m: Message, shares?: WireShares): Buffer {
  return packr.pack(toWire(node, m, shares))
}

/** A message as it travels, not encoded yet (a bus batch is encoded in one go). */
export function toWire (node: string, m: Message, shares?: WireShares): WireMessage {
  const wire: WireMessage = [node, m.topic, m.payload, m.qos, m.retain, m.properties ?? null, m.expiresAt, m.origin ?? null]
  if (shares) wire.push(shares)
  return wire
}

export function decodeMessage (data: Buffer): Message {
  return decodeEnvelope(data).message
}

export interface Envelope { message: Message, shares: WireShares | undefined }

export function decodeEnvelope (data: Buffer): Envelope {
  return fromWire(packr.unpack(data) as WireMessage)
}

/**
 * One message for the bus, encoded once whatever number of nodes it goes to. The messages published in
 * one event-loop turn travel to a node as one payload: their encodings one after the other.
 */
export function encodeWire (wire: WireMessage): Buffer {
  return packr.pack(wire)
}

/** A bus payload: one or more encoded messages. */
export function decodeBus (data: Buffer): Envelope[] {
  const values = packr.unpackMultiple(data) as unknown[]
  if (!values.every(Array.isArray)) throw new CulexError('CULEX_ERR_CLUSTER_DECODE', 'not a batch of cluster messages')
  return (values as WireMessage[]).map(fromWire)
}

function fromWire ([node, topic, payload, qos, retain, properties, expiresAt, origin, shares]: WireMessage): Envelope {
  if (typeof topic !== 'string' || !Buffer.isBuffer(payload)) throw new CulexError('CULEX_ERR_CLUSTER_DECODE', 'not a cluster message')
  return { message: { topic, payload, qos, retain, properties: properties ?? undefined, expiresAt, origin: origin ?? undefined, node }, shares }
}
