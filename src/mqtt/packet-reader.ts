// Splits the incoming byte stream into packets. The packets a broker reads most, a whole PUBLISH without
// properties, an acknowledgement that is only a packet id, PINGREQ, an MQTT 3 DISCONNECT and a CONNECT
// without properties, are decoded here straight from the socket's buffer; every other packet, a PUBLISH with MQTT 5 properties and
// whatever is cut off at the end of a read go to mqtt-packet's parser, which validates and reports errors
// as before. mqtt-packet reads each field through a BufferList copy (several small Buffer views per
// PUBLISH): that was a fifth of the CPU of a QoS 0 run.
//
// The parser exists only while it is needed: it is made for the first packet it must read and dropped,
// once it holds no partial packet, after a packet other than PUBLISH (CONNECT, SUBSCRIBE, ...). An idle
// connection then keeps none (a parser also holds on to the CONNECT packet, password included), and a
// client publishing with properties keeps one. Its bytes are kept in a plain BufferList (vendor/bl-list).
import mqtt from 'mqtt-packet'
import type { IConnectPacket, IPublishPacket, Packet, QoS } from 'mqtt-packet'
import { parserHeldBytes } from './mqtt-packet-internals.js'
import { ACK_HEADERS } from './packet-encoder.js'

/** The protocol names a CONNECT may carry, as its bytes (length prefix included). */
const MQTT = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54])
const MQISDP = Buffer.from([0, 6, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70])

/** mqtt-packet keeps the error it reported; the reader drops a parser only when it has none. */
type SettledParser = mqtt.Parser & { error: Error | null }

const ACKS = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const

/** Where a reader's packets go: the connection, one object for all three (no closure per connection). */
export interface PacketSink {
  /** A whole packet was read. */
  packetRead (packet: Packet): void
  /** mqtt-packet refused what it was given. */
  packetRefused (err: Error): void
  /** Asked between packets: whether the connection has closed (the rest of the read is not wanted). */
  readStopped (): boolean
}

export class PacketReader {
  #parser: SettledParser | null = null
  /** The protocol level of the CONNECT read (0 before it); a field, as a private getter is a runtime call per read. */
  #version = 0
  /** The CONNECT's bridge flag (protocol level + 128), for a parser made after it. */
  #bridgeMode = false
  /** Whether the last packet the parser read was not a PUBLISH (see the header). */
  #controlRead = false
  readonly #sink: PacketSink

  /** Bytes of a packet whose start went to the parser, still to come. */
  #toParser = 0
  /** The first bytes of a packet whose fixed header was cut off. */
  #head: Buffer | null = null

  constructor (sink: PacketSink) {
    this.#sink = sink
  }

  /** A CONNECT was read (here or by the parser): what the packets after it are read with. */
  #connected (protocolVersion: number, bridgeMode?: boolean): void {
    this.#version = protocolVersion
    this.#bridgeMode = bridgeMode === true
  }

  #parsed (packet: Packet): void {
    this.#controlRead = packet.cmd !== 'publish'
    // mqtt-packet sets bridgeMode on a bridge's CONNECT (protocol level + 128); its type leaves it out.
    if (packet.cmd === 'connect') this.#connected(packet.protocolVersion ?? 4, (packet as { bridgeMode?: boolean }).bridgeMode)
    this.#sink.packetRead(packet)
  }

  get holdsParser (): boolean { return this.#parser !== null }

  /** Bytes of a partial packet held until the rest arrives. */
  get bufferedBytes (): number {
    const held = this.#parser === null ? 0 : parserHeldBytes(this.#parser)
    return held + (this.#head?.length ?? 0)
  }

  #parse (bytes: Buffer): void {
    let parser = this.#parser
    if (parser === null) {
      const settings = this.#version === 0 ? {} : { protocolVersion: this.#version, bridgeMode: this.#bridgeMode }
      parser = this.#parser = mqtt.parser(settings) as SettledParser
      // Made with the parser, which most idle connections do not keep.
      parser.on('packet', (packet: Packet) => this.#parsed(packet))
      parser.on('error', (err: Error) => this.#sink.packetRefused(err))
    }
    const left = parser.parse(bytes)
    if (left === 0 && this.#toParser === 0 && this.#controlRead && parser.error === null) this.#parser = null
  }

  /** Reads a chunk; the sink's readStopped() is asked between packets (the connection may have closed). */
  read (chunk: Buffer): void {
    const sink = this.#sink
    let buf = chunk
    let i = 0
    if (this.#toParser > 0) {
      const n = Math.min(this.#toParser, buf.length)
      this.#toParser -= n
      this.#parse(buf.subarray(0, n))
      i = n
    }
    if (this.#head !== null) {
      buf = Buffer.concat([this.#head, buf.subarray(i)])
      this.#head = null
      i = 0
    }
    while (i < buf.length && !sink.readStopped()) {
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
        if (j - i > 4) { this.#parse(buf.subarray(i)); return }
        this.#head = Buffer.from(buf.subarray(i))
        return
      }
      const end = j + length
      if (end > buf.length) {
        this.#toParser = end - buf.length
        this.#parse(buf.subarray(i))
        return
      }
      const packet = this.#decode(buf, i, j, end)
      if (packet) sink.packetRead(packet)
      else this.#parse(buf.subarray(i, end))
      i = end
    }
  }

  /** The whole packet at buf[start..end) (body from `body`) when it is one read here; null for the parser. */
  #decode (buf: Buffer, start: number, body: number, end: number): Packet | null {
    const type = buf[start]! >> 4
    if (type === 3) return this.#publish(buf, start, body, end)
    if (buf[start] === 0x10 && this.#parser === null) return this.#connect(buf, body, end)
    if (type >= 4 && type <= 7 && end - body === 2) return this.#ack(buf, start, body)
    if (buf[start] === 0xc0 && end === body) return { cmd: 'pingreq' }
    // A DISCONNECT without a body, as mqtt-packet reads it before MQTT 5 (an MQTT 5 one goes to the parser).
    if (buf[start] === 0xe0 && end === body && this.#version !== 5) return { cmd: 'disconnect', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null } as unknown as Packet
    return null
  }

  /**
   * A CONNECT without properties (nor will properties) at buf[body..end), read as mqtt-packet reads it; null
   * for the parser, which reads the rest and gives the errors: properties, a bridge's protocol level, bad
   * flags, a field running past the end, or bytes after the last field. Will payload and password are
   * copied, not views of the read's buffer.
   */
  #connect (buf: Buffer, body: number, end: number): Packet | null {
    let p = body
    let protocolId: 'MQTT' | 'MQIsdp'
    if (end - p >= 10 && buf.compare(MQTT, 0, 6, p, p + 6) === 0) { protocolId = 'MQTT'; p += 6 } else if (end - p >= 12 && buf.compare(MQISDP, 0, 8, p, p + 8) === 0) { protocolId = 'MQIsdp'; p += 8 } else return null
    const protocolVersion = buf[p++]!
    if (protocolVersion < 3 || protocolVersion > 5) return null
    const flags = buf[p++]!
    const hasWill = (flags & 0x04) !== 0
    if ((flags & 0x01) !== 0 || (!hasWill && (flags & 0x38) !== 0)) return null
    const keepalive = (buf[p]! << 8) | buf[p + 1]!
    p += 2
    if (protocolVersion === 5) { if (p >= end || buf[p++] !== 0) return null }
    let text = field(buf, p, end)
    if (text < 0) return null
    const clientId = buf.toString('utf8', p + 2, text)
    p = text
    const packet = { cmd: 'connect', retain: false, qos: 0, dup: false, length: end - body, topic: null, payload: null, protocolId, protocolVersion, clean: (flags & 0x02) !== 0, keepalive, clientId } as unknown as IConnectPacket
    if (hasWill) {
      if (protocolVersion === 5) { if (p >= end || buf[p++] !== 0) return null }
      text = field(buf, p, end)
      if (text < 0) return null
      const topic = buf.toString('utf8', p + 2, text)
      p = text
      const data = field(buf, p, end)
      if (data < 0) return null
      packet.will = { retain: (flags & 0x20) !== 0, qos: ((flags >> 3) & 0x03) as QoS, topic, payload: Buffer.from(buf.subarray(p + 2, data)) }
      p = data
    }
    if ((flags & 0x80) !== 0) {
      text = field(buf, p, end)
      if (text < 0) return null
      packet.username = buf.toString('utf8', p + 2, text)
      p = text
    }
    if ((flags & 0x40) !== 0) {
      const data = field(buf, p, end)
      if (data < 0) return null
      packet.password = Buffer.from(buf.subarray(p + 2, data))
      p = data
    }
    if (p !== end) return null
    this.#connected(protocolVersion)
    return packet
  }

  /** PUBACK, PUBREC, PUBREL or PUBCOMP that is only a packet id; null for the parser (wrong flags). */
  #ack (buf: Buffer, start: number, body: number): Packet | null {
    const cmd = ACKS[(buf[start]! >> 4) - 4]!
    if (buf[start] !== ACK_HEADERS[cmd]) return null
    const packet = { cmd, retain: false, qos: cmd === 'pubrel' ? 1 : 0, dup: false, length: 2, topic: null, payload: null, messageId: (buf[body]! << 8) | buf[body + 1]! } as unknown as Packet
    // MQTT 5 without a reason code: Success.
    if (this.#version === 5) (packet as { reasonCode?: number }).reasonCode = 0
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
    if (this.#version === 5) {
      if (p >= end || buf[p] !== 0) return null
      p++
    }
    const packet: IPublishPacket = { cmd: 'publish', retain: (flags & 0x01) !== 0, qos: qos as 0 | 1 | 2, dup: (flags & 0x08) !== 0, length: end - body, topic, payload: buf.subarray(p, end) }
    if (qos > 0) packet.messageId = messageId
    return packet
  }
}

/** The end of the length-prefixed field at buf[p..), or -1 when it runs past `end`. */
function field (buf: Buffer, p: number, end: number): number {
  if (end - p < 2) return -1
  const to = p + 2 + ((buf[p]! << 8) | buf[p + 1]!)
  return to > end ? -1 : to
}
