// Splits the incoming byte stream into packets. The packets a broker reads most, a whole PUBLISH without
// properties and an acknowledgement that is only a packet id, are decoded here straight from the
// socket's buffer; every other packet, a PUBLISH with MQTT 5 properties and whatever is cut off at the
// end of a read go to mqtt-packet's parser, which validates and reports errors as before. mqtt-packet
// reads each field through a BufferList copy (several small Buffer views per PUBLISH): that was a fifth
// of the CPU of a QoS 0 run.
import type mqtt from 'mqtt-packet'
import type { IPublishPacket, Packet } from 'mqtt-packet'

/** mqtt-packet's parser adopts the CONNECT packet as its settings (protocolVersion among them). */
type SettledParser = mqtt.Parser & { settings: { protocolVersion?: number } }

const ACKS = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const

export class PacketReader {
  readonly #parser: SettledParser
  readonly #emit: (packet: Packet) => void
  /** Bytes of a packet whose start went to the parser, still to come. */
  #toParser = 0
  /** The first bytes of a packet whose fixed header was cut off. */
  #head: Buffer | null = null

  constructor (parser: mqtt.Parser, emit: (packet: Packet) => void) {
    this.#parser = parser as SettledParser
    this.#emit = emit
  }

  /** Reads a chunk; `stopped()` is asked between packets (the connection may have closed). */
  read (chunk: Buffer, stopped: () => boolean): void {
    let buf = chunk
    let i = 0
    if (this.#toParser > 0) {
      const n = Math.min(this.#toParser, buf.length)
      this.#toParser -= n
      this.#parser.parse(buf.subarray(0, n))
      i = n
    }
    if (this.#head !== null) {
      buf = Buffer.concat([this.#head, buf.subarray(i)])
      this.#head = null
      i = 0
    }
    while (i < buf.length && !stopped()) {
      // Fixed header: the type byte, then a Remaining Length of 1 to 4 bytes.
      let j = i + 1
      let length = 0
      let multiplier = 1
      let byte = 0x80
      while (byte & 0x80) {
        if (j >= buf.length || j - i > 4) break
        byte = buf[j++]!
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
      }
      if (byte & 0x80) {
        // Cut off (or malformed: more than 4 bytes, which the frame guard has refused already).
        if (j - i > 4) { this.#parser.parse(buf.subarray(i)); return }
        this.#head = Buffer.from(buf.subarray(i))
        return
      }
      const end = j + length
      if (end > buf.length) {
        this.#toParser = end - buf.length
        this.#parser.parse(buf.subarray(i))
        return
      }
      const type = buf[i]! >> 4
      const packet = type === 3 ? this.#publish(buf, i, j, end) : type >= 4 && type <= 7 && length === 2 ? this.#ack(buf, i, j) : null
      if (packet) this.#emit(packet)
      else this.#parser.parse(buf.subarray(i, end))
      i = end
    }
  }

  /** PUBACK, PUBREC, PUBREL or PUBCOMP that is only a packet id; null for the parser (wrong flags). */
  #ack (buf: Buffer, start: number, body: number): Packet | null {
    const type = buf[start]! >> 4
    // PUBREL's fixed header flags are 0010, the others' 0000 [MQTT-2.2.2-1].
    if ((buf[start]! & 0x0f) !== (type === 6 ? 0x02 : 0)) return null
    const packet = { cmd: ACKS[type - 4]!, retain: false, qos: type === 6 ? 1 : 0, dup: false, length: 2, topic: null, payload: null, messageId: (buf[body]! << 8) | buf[body + 1]! } as unknown as Packet
    // MQTT 5 without a reason code: Success.
    if (this.#parser.settings.protocolVersion === 5) (packet as { reasonCode?: number }).reasonCode = 0
    return packet
  }

  /** A whole PUBLISH at buf[start..end) (body from `body`), or null for the parser to read (properties, or malformed). */
  #publish (buf: Buffer, start: number, body: number, end: number): IPublishPacket | null {
    const flags = buf[start]! & 0x0f
    const qos = (flags >> 1) & 0x03
    if (qos === 3) return null
    let p = body
    if (end - p < 2) return null
    const topicLength = (buf[p]! << 8) | buf[p + 1]!
    p += 2
    if (p + topicLength > end) return null
    const topic = buf.toString('utf8', p, p + topicLength)
    p += topicLength
    let messageId = 0
    if (qos > 0) {
      if (end - p < 2) return null
      messageId = (buf[p]! << 8) | buf[p + 1]!
      p += 2
    }
    if (this.#parser.settings.protocolVersion === 5) {
      if (p >= end || buf[p] !== 0) return null
      p++
    }
    const packet: IPublishPacket = { cmd: 'publish', retain: (flags & 0x01) !== 0, qos: qos as 0 | 1 | 2, dup: (flags & 0x08) !== 0, length: end - body, topic, payload: buf.subarray(p, end) }
    if (qos > 0) packet.messageId = messageId
    return packet
  }
}
