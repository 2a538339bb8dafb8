// The packets a broker sends most, encoded in one allocation: PUBLISH without properties and the
// QoS 1/2 acknowledgements without reason code or properties. mqtt-packet's generate() builds an
// EventEmitter-based accumulator and a list of buffers per packet, then concatenates them: for
// deliveries that was a quarter of the CPU of a QoS 0 run. Everything else still goes through mqtt-packet.

/** Bytes of the Remaining Length field for a length (the Variable Byte Integer of [MQTT-1.5.5]). */
function varIntSize (n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4
}

/**
 * The PUBLISH packet: fixed header, topic, packet id (QoS > 0), an empty property set (MQTT 5) and the
 * payload. `v5`: the client speaks MQTT 5.
 */
export function encodePlainPublish (topic: string, payload: Buffer, qos: 0 | 1 | 2, retain: boolean, dup: boolean, packetId: number, v5: boolean): Buffer {
  const topicLength = Buffer.byteLength(topic)
  const remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length
  const buf = Buffer.allocUnsafe(1 + varIntSize(remaining) + remaining)
  buf[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0)
  let offset = 1
  let n = remaining
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[offset++] = byte
  } while (n > 0)
  buf[offset++] = topicLength >> 8
  buf[offset++] = topicLength & 0xff
  offset += buf.write(topic, offset, topicLength, 'utf8')
  if (qos > 0) {
    buf[offset++] = packetId >> 8
    buf[offset++] = packetId & 0xff
  }
  if (v5) buf[offset++] = 0
  payload.copy(buf, offset)
  return buf
}

/** The first byte of each acknowledgement: its type, and PUBREL's required flags 0010 [MQTT-2.2.2-1]. */
export const ACK_HEADERS = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const

export type AckCommand = keyof typeof ACK_HEADERS

export function isAckCommand (cmd: string): cmd is AckCommand {
  return cmd in ACK_HEADERS
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP with reason Success and no properties: the same 4 bytes at every protocol level [MQTT-3.4.2.1]. */
export function encodePlainAck (cmd: AckCommand, packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(4)
  buf[0] = ACK_HEADERS[cmd]
  buf[1] = 2
  buf[2] = packetId >> 8
  buf[3] = packetId & 0xff
  return buf
}

/** PINGRESP: the same two bytes for every client; written as it is (a socket write never changes a buffer). */
export const PINGRESP = Buffer.from([0xd0, 0x00])

/** CONNACK of MQTT 3.1 and 3.1.1, which has no properties: Session Present and the return code. */
export function encodeV3Connack (sessionPresent: boolean, returnCode: number): Buffer {
  return Buffer.from([0x20, 0x02, sessionPresent ? 0x01 : 0x00, returnCode])
}
