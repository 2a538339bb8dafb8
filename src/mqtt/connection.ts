// One client connection: bytes in through the frame guard and the packet reader to the handlers,
// packets out gathered per tick so that a burst of deliveries leaves in one write.
import type { Duplex } from 'node:stream'
import mqtt from 'mqtt-packet'
import type { Packet, IPublishPacket } from 'mqtt-packet'
import type { Rate } from '../config/types.js'
import { CulexError } from '../errors.js'
import type { Core } from './core.js'
import { dispatch } from './dispatch.js'
import { cachedEncoding } from './encode-cache.js'
import { encodePlainAck, encodePlainPublish, isAckCommand } from './packet-encoder.js'
import { FrameGuard } from './frame-guard.js'
import { PacketReader } from './packet-reader.js'
import type { ClientInfo, EnhancedAuthExchange, EnhancedAuthStep } from './hooks.js'
import { aliasBytes, memoryBudget } from './memory.js'
import { remainingExpiry, type PublishProperties } from './message.js'
import { PublishLimiter } from './rate-limit.js'
import { RC, describeReason } from './reason-codes.js'
import type { Delivery, Session, SessionLink } from './session.js'
import type { TlsInfo } from './tls-info.js'

export type ConnectionState = 'new' | 'connecting' | 'connected' | 'closed'

/** What a listener knows about a connection it hands over. */
export interface TransportInfo {
  remoteAddress: string
  remotePort: number
  /** `tcp`, `ws`, `ssl`, `wss`. */
  transport: string
  /** For ssl and wss: the negotiated TLS parameters and the verified client certificate. */
  tls?: TlsInfo
}

/** The listener-level settings a connection needs. */
export interface ListenerContext {
  /** `tcp:default` */
  readonly id: string
  readonly mountpoint: string
  /** messages_rate and bytes_rate of each client; null or absent = none. */
  readonly messagesRate?: Rate | null
  readonly bytesRate?: Rate | null
}

/** Bytes read from one client before it lets the others read (a turn of the event loop). */
const READ_SLICE = 64 * 1024
/** Up to this many bytes a tick's packets are copied into one buffer; above, they go as a writev. */
const CONCAT_LIMIT = 256 * 1024

// mqtt-packet reports these as parse errors; MQTT 5 makes them Protocol Errors, not Malformed Packets (spec 3.8.3.1).
const PARSER_PROTOCOL_ERRORS = new Set(['Invalid subscribe QoS, must be <= 2', 'Invalid retain handling, must be <= 2'])

export class Connection implements SessionLink {
  readonly core: Core
  readonly socket: Duplex
  readonly listener: ListenerContext
  readonly transport: TransportInfo
  readonly createdAt = Date.now()
  state: ConnectionState = 'new'
  protocolVersion: 3 | 4 | 5 = 4
  client: ClientInfo | null = null
  session: Session | null = null
  /** Seconds; 0 = none. */
  keepalive = 0
  /** CONNECT's Clean Start (Clean Session in MQTT 3). */
  cleanStart = true
  lastSeen = Date.now()
  /** Mountpoint with ${clientid}/${username} expanded. */
  mountpoint = ''
  /** Client's Receive Maximum bounded by mqtt.max_inflight. */
  sendWindow = 65535
  /** Client's Maximum Packet Size; we never send larger. */
  maxOutgoingPacket = Number.POSITIVE_INFINITY
  /** Client's Topic Alias Maximum (aliases we may assign). */
  aliasOutMax = 0
  /** Aliases we assigned, made at the first (most clients never use aliases). */
  #aliasOut: Map<string, number> | null = null
  /** The client's aliases, made at the first. */
  #aliasIn: Map<number, string> | null = null
  /** What #aliasIn pins (src/mqtt/memory.ts). */
  #aliasInBytes = 0
  /** force_shutdown.max_heap_size, or Infinity (src/mqtt/memory.ts). */
  readonly #memoryBudget: number
  /** Whether reason strings and user properties may be sent (Request Problem Information). */
  problemInfo = true
  /** Set once a DISCONNECT that keeps the will (0x04) or discards it has been received. */
  disconnectReceived = false
  /** MQTT 5 enhanced authentication under way: set from CONNECT until CONNACK. */
  enhancedAuth: { method: string, exchange: EnhancedAuthExchange, finish: (step: EnhancedAuthStep) => void | Promise<void> } | null = null
  readonly #reader: PacketReader
  readonly #stopped = (): boolean => this.state === 'closed'
  readonly #guard: FrameGuard
  /** Packets written this tick, sent together on the next tick (see write()). */
  #pending: Buffer[] = []
  #pendingBytes = 0
  /** Bytes read since this connection last let the others read (see #onData). */
  #readSinceYield = 0
  #yielding = false
  #busy = false
  #backlog: Packet[] = []
  /** messages_rate / bytes_rate, when the listener limits them. */
  readonly #limiter: PublishLimiter | null
  /** Reads paused by #limiter until a timer resumes them. */
  #throttled = false
  #wasThrottled = false
  /** When the unsent data was first seen above mqtt.max_write_buffer (0 = it is not). */
  #slowSince = 0
  /** The last acknowledgement waiting for the data store, while one is. */
  #ackWait: Promise<void> | null = null

  constructor (core: Core, socket: Duplex, listener: ListenerContext, transport: TransportInfo) {
    this.core = core
    this.socket = socket
    this.listener = listener
    this.transport = transport
    this.#guard = new FrameGuard(core.config.mqtt.max_packet_size)
    this.#memoryBudget = memoryBudget(core.config)
    this.#limiter = PublishLimiter.create(listener.messagesRate ?? null, listener.bytesRate ?? null)
    this.#reader = new PacketReader((packet) => this.#onPacket(packet), (err) => this.#onParseError(err))
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('error', (err: Error) => this.#finish(`socket error: ${err.message}`))
    socket.on('close', () => this.#finish(this.state === 'closed' ? 'closed' : 'connection lost'))
    socket.on('end', () => socket.end())
  }

  get clientId (): string { return this.client?.clientId ?? '' }

  /** The topic of a Topic Alias the client set. */
  aliasedTopic (alias: number): string | undefined { return this.#aliasIn?.get(alias) }

  /** Sets a Topic Alias of the client; call it once the PUBLISH that sets it is authorized. */
  setAlias (alias: number, topic: string): void {
    const aliases = this.#aliasIn ??= new Map()
    const old = aliases.get(alias)
    if (old !== undefined) this.#aliasInBytes -= aliasBytes(old)
    this.#aliasInBytes += aliasBytes(topic)
    aliases.set(alias, topic)
  }

  /**
   * What this client pins in memory (src/mqtt/memory.ts): its aliases, its session's subscriptions,
   * messages and will, and the partial packet being read. Data written and not yet sent is bounded on
   * its own (a slow consumer, see #slowConsumer), against the same force_shutdown.max_heap_size.
   */
  get pinnedBytes (): number {
    return this.#aliasInBytes + (this.session?.pinnedBytes ?? 0) + this.#reader.bufferedBytes
  }

  /** The bytes this client may still pin before force_shutdown.max_heap_size (Infinity when off). */
  get memoryLeft (): number { return this.#memoryBudget - this.pinnedBytes }

  /**
   * force_shutdown: a client pinning more than max_heap_size is disconnected (MQTT 5: DISCONNECT 0x97
   * Quota exceeded, as for a slow consumer; EMQX ends a connection process over its heap with
   * proc_heap_too_large and closes the socket without a DISCONNECT). Returns whether it was.
   */
  overMemoryBudget (): boolean {
    if (this.#memoryBudget === Number.POSITIVE_INFINITY) return false
    const pinned = this.pinnedBytes
    if (pinned <= this.#memoryBudget || this.state === 'closed') return false
    const session = this.session
    this.core.metrics.limits.memoryDisconnected++
    this.core.log.warning({
      client: this.label,
      pinned,
      max_heap_size: this.#memoryBudget,
      aliases: this.#aliasInBytes,
      subscriptions: session?.subscriptions.bytes ?? 0,
      inflight: session?.inflight.bytes ?? 0,
      queued: session?.queuedBytes ?? 0,
      partial_packet: this.#reader.bufferedBytes,
    }, 'disconnecting client: it holds more memory than force_shutdown.max_heap_size (topic aliases, subscriptions, queued and in-flight messages, partial packet)')
    this.disconnect(RC.QUOTA_EXCEEDED, 'force_shutdown: more memory held than max_heap_size')
    return true
  }

  /** @internal whether mqtt-packet's parser is held now (see packet-reader.ts) */
  get holdsParser (): boolean { return this.#reader.holdsParser }

  get label (): string {
    return `${this.client?.clientId ?? '-'}@${this.transport.remoteAddress}:${this.transport.remotePort} on ${this.listener.id}`
  }

  // ---- input ----

  #onData (chunk: Buffer): void {
    if (this.state === 'closed') return
    this.lastSeen = Date.now()
    this.core.metrics.bytesReceived += chunk.length
    if (this.state === 'new' && isTlsRecordStart(chunk) && (this.socket as { bytesRead?: number }).bytesRead === chunk.length) {
      this.protocolError(new CulexError('CULEX_ERR_MQTT_MALFORMED', 'a TLS ClientHello on a plain MQTT port: use the ssl port (8883) or turn TLS off in the client'))
      return
    }
    const frameError = this.#guard.check(chunk)
    if (frameError === 'packet_too_large') {
      this.protocolError(new CulexError('CULEX_ERR_MQTT_PACKET_TOO_LARGE', `packet larger than mqtt.max_packet_size (${this.#guard.maxPacketSize} bytes)`))
      return
    }
    if (frameError) {
      this.protocolError(new CulexError('CULEX_ERR_MQTT_MALFORMED', 'remaining length longer than 4 bytes'))
      return
    }
    this.#reader.read(chunk, this.#stopped)
    // libuv reads up to 32 chunks of 64 KiB from one socket per turn: a client sending at full speed
    // would hold the event loop for all of them. Past READ_SLICE this one waits a turn, so the other
    // clients, timers and accept() get theirs.
    if ((this.#readSinceYield += chunk.length) >= READ_SLICE) this.#yieldReads()
  }

  #yieldReads (): void {
    this.#readSinceYield = 0
    if (this.#yielding || this.state === 'closed') return
    this.#yielding = true
    this.socket.pause()
    setImmediate(endYield, this)
  }

  /** @internal the end of a read slice's wait */
  endYield (): void {
    this.#yielding = false
    if (!this.#busy && !this.#throttled && this.state !== 'closed') this.socket.resume()
  }

  #onPacket (packet: Packet): void {
    if (this.state === 'closed') return
    if (this.#busy || this.#throttled) { this.#backlog.push(packet); return }
    this.#handle(packet)
  }

  #handle (packet: Packet): void {
    let result: void | Promise<void>
    try {
      result = dispatch(this, packet)
    } catch (err) {
      this.protocolError(err)
      return
    }
    if (result instanceof Promise) {
      this.#busy = true
      this.socket.pause()
      result.then(() => this.#resume(), (err: unknown) => { this.#busy = false; this.protocolError(err) })
    }
    if (this.#limiter !== null && packet.cmd === 'publish') this.#charge(packet)
  }

  /** messages_rate / bytes_rate: over them, stop reading (and handling what was read) until the rate allows. */
  #charge (packet: IPublishPacket): void {
    const wait = this.#limiter!.charge(packet.length ?? packet.payload.length, Date.now())
    if (wait === 0 || this.state === 'closed') return
    this.core.metrics.limits.publishThrottled++
    if (!this.#wasThrottled) {
      this.#wasThrottled = true
      this.core.log.info({ client: this.label, pause_ms: wait }, 'client throttled by messages_rate / bytes_rate (logged once per connection)')
    }
    this.#throttled = true
    this.socket.pause()
    setTimeout(unthrottle, wait, this).unref()
  }

  /** @internal the throttle timer */
  unthrottle (): void {
    this.#throttled = false
    // Silent because we did not read: keep alive counts from now.
    this.lastSeen = Date.now()
    if (!this.#busy) this.#resume()
  }

  #resume (): void {
    this.#busy = false
    while (!this.#busy && !this.#throttled && this.#backlog.length > 0 && this.state !== 'closed') this.#handle(this.#backlog.shift()!)
    if (!this.#busy && !this.#throttled && !this.#yielding && this.state !== 'closed') this.socket.resume()
  }

  #onParseError (err: Error): void {
    if (this.state === 'closed') return
    if (err.message === 'Invalid protocol version' && this.state === 'new') {
      // [MQTT-3.1.2-2]: answer an unknown protocol level with CONNACK 0x01, then close.
      this.core.log.info({ client: this.label }, 'refused CONNECT: unsupported protocol version')
      this.socket.write(Buffer.from([0x20, 0x02, 0x00, 0x01]))
      this.close('unsupported protocol version')
      return
    }
    if (PARSER_PROTOCOL_ERRORS.has(err.message)) this.protocolError(new CulexError('CULEX_ERR_MQTT_PROTOCOL', `protocol error: ${err.message}`))
    else this.protocolError(new CulexError('CULEX_ERR_MQTT_MALFORMED', `malformed packet: ${err.message}`))
  }

  /** Logs, sends DISCONNECT with the error's reason code where MQTT 5 allows it, and closes. */
  protocolError (err: unknown): void {
    if (this.state === 'closed') return
    const culex = err instanceof CulexError ? err : null
    if (!culex) this.core.log.error({ err, client: this.label }, 'unexpected error handling a packet')
    const rc = culex?.reasonCode ?? RC.UNSPECIFIED_ERROR
    const reason = culex?.message ?? 'internal error'
    this.core.log.warning({ client: this.label, code: culex?.code, reasonCode: describeReason(rc) }, `closing connection: ${reason}`)
    this.core.metrics.protocolErrors++
    this.disconnect(rc, reason)
  }

  // ---- output ----

  send (packet: Packet): void {
    if (this.state === 'closed') return
    if (isAckCommand(packet.cmd) && plainAck(packet)) this.write(encodePlainAck(packet.cmd, packet.messageId!))
    else this.write(mqtt.generate(packet, { protocolVersion: this.protocolVersion }))
  }

  /**
   * Sends a PUBACK or PUBREC once the data store holds what the message was written to (persistent
   * sessions' queues, retained). Acknowledgements keep the order of their PUBLISH packets
   * [MQTT-4.6.0-2], so one that waits holds back those after it.
   */
  acknowledge (packet: Packet): void {
    const barrier = this.core.journal?.barrier()
    if (barrier === undefined && this.#ackWait === null) { this.send(packet); return }
    const wait: Promise<void> = Promise.all([this.#ackWait, barrier]).then(() => {
      if (this.#ackWait === wait) this.#ackWait = null
      this.send(packet)
    }, (err: unknown) => {
      if (this.#ackWait === wait) this.#ackWait = null
      this.core.log.error({ client: this.label }, `message not acknowledged, the data store failed: ${(err as Error).message}`)
      this.disconnect(RC.UNSPECIFIED_ERROR, 'the message could not be stored')
    })
    this.#ackWait = wait
  }

  /**
   * Queues a packet; everything written in one tick leaves on the next as one buffer. One socket write
   * per tick instead of one per packet: no per-packet stream bookkeeping, and no limit of 1,024 buffers
   * per writev when a burst of small deliveries goes to one client.
   */
  write (buf: Buffer): void {
    if (this.#pending.length === 0) process.nextTick(flushPending, this)
    this.#pending.push(buf)
    this.#pendingBytes += buf.length
    this.core.metrics.bytesSent += buf.length
    this.core.metrics.packetsSent++
  }

  /** @internal called on the next tick after the first write of a tick */
  flush (): void {
    const list = this.#pending
    if (list.length === 0) return
    const bytes = this.#pendingBytes
    this.#pending = []
    this.#pendingBytes = 0
    if (list.length === 1) this.socket.write(list[0])
    else if (bytes <= CONCAT_LIMIT) this.socket.write(Buffer.concat(list, bytes))
    else {
      // Large payloads: hand them over as they are, in one writev, rather than copy them.
      this.socket.cork()
      for (const buf of list) this.socket.write(buf)
      this.socket.uncork()
    }
  }

  /** Unsent bytes: queued this tick plus what the socket holds. */
  get unsentBytes (): number { return this.#pendingBytes + this.socket.writableLength }

  sendPublish (d: Delivery, dup: boolean): void {
    if (this.state !== 'connected') return
    const pending = this.unsentBytes
    if (pending > this.core.config.mqtt.max_write_buffer) {
      if (this.#slowConsumer(d, pending)) return
    } else if (this.#slowSince !== 0) this.#slowSince = 0
    const m = d.message
    const v5 = this.protocolVersion === 5
    const simple = d.qos === 0 && !this.mountpoint && m.expiresAt === 0 && d.subIds === undefined && this.aliasOutMax === 0
    const aliases = this.#aliasOut?.size ?? 0
    let buf: Buffer
    try {
      buf = simple
        ? cachedEncoding(m, v5, d.retain, () => this.#encodePublish(d, dup))
        : this.#encodePublish(d, dup)
    } catch (err) {
      // mqtt-packet refuses the message for this client (an invalid property only MQTT 5 carries, ...).
      // Nothing was written, so the client's state is intact: the message is dropped for it and the
      // client served on, as Mosquitto drops a message it cannot send to one client (an oversize one).
      this.core.metrics.deliveryErrors++
      this.core.log.warning({ client: this.label, topic: m.topic, err }, 'message dropped for this client: it cannot be encoded')
      this.#discard(d, aliases)
      return
    }
    if (buf.length > this.maxOutgoingPacket) {
      // [MQTT-3.1.2-25]: discard, and act as if it was sent.
      this.core.log.debug({ client: this.label, topic: m.topic, size: buf.length }, 'message larger than the client\'s Maximum Packet Size dropped')
      this.#discard(d, aliases)
      return
    }
    this.write(buf)
    this.core.metrics.messagesSent++
    this.core.metrics.messagesSentQos[d.qos]++
  }

  /** A PUBLISH not sent: dropped as if it had been delivered. `aliases`: how many outgoing aliases there were before it. */
  #discard (d: Delivery, aliases: number): void {
    // An alias this packet assigned never reached the client: forget it, or the next one would use it unnamed.
    const out = this.#aliasOut
    if (out !== null && out.size > aliases) out.delete([...out.keys()].at(-1)!)
    this.core.metrics.messagesDropped++
    if (d.qos > 0) {
      this.session?.inflight.delete(d.packetId)
      this.session?.journal?.remove(d)
    }
  }

  /**
   * A client not reading what it is sent: QoS 0 is dropped (QoS 1/2 are bounded by the send window), and
   * force_shutdown disconnects it past max_heap_size or after write_buffer_timeout. Returns whether `d` is not sent.
   */
  #slowConsumer (d: Delivery, pending: number): boolean {
    const now = Date.now()
    if (this.#slowSince === 0) this.#slowSince = now
    const force = this.core.config.force_shutdown
    if (force.enable && (pending > this.#memoryBudget || now - this.#slowSince > force.write_buffer_timeout)) {
      this.core.metrics.limits.slowConsumerDisconnected++
      this.core.log.warning({ client: this.label, unsent: pending, since_ms: now - this.#slowSince },
        'disconnecting slow consumer: unsent data over force_shutdown limits')
      this.disconnect(RC.QUOTA_EXCEEDED, 'slow consumer: too much unsent data')
      return true
    }
    if (d.qos !== 0) return false
    this.core.metrics.messagesDropped++
    this.core.metrics.limits.slowConsumerDropped++
    return true
  }

  #encodePublish (d: Delivery, dup: boolean): Buffer {
    const m = d.message
    let topic = this.mountpoint && m.topic.startsWith(this.mountpoint) ? m.topic.slice(this.mountpoint.length) : m.topic
    const v5 = this.protocolVersion === 5
    if (v5) {
      let props: PublishProperties | undefined = m.properties
      if (m.expiresAt !== 0 || d.subIds !== undefined || this.aliasOutMax > 0) {
        props = { ...props }
        if (m.expiresAt !== 0) props.messageExpiryInterval = remainingExpiry(m, Date.now())
        if (d.subIds !== undefined) props.subscriptionIdentifier = d.subIds.length === 1 ? d.subIds[0]! : d.subIds
        if (this.aliasOutMax > 0) topic = this.#applyAlias(topic, props)
      }
      if (props && hasProperties(props)) {
        const packet: IPublishPacket = { cmd: 'publish', topic, payload: m.payload, qos: d.qos, retain: d.retain, dup, properties: props }
        if (d.qos > 0) packet.messageId = d.packetId
        return mqtt.generate(packet, { protocolVersion: 5 })
      }
    }
    return encodePlainPublish(topic, m.payload, d.qos, d.retain, dup, d.packetId, v5)
  }

  /** Assigns aliases first come, first served until the client's maximum; later topics go in full. */
  #applyAlias (topic: string, props: PublishProperties): string {
    const out = this.#aliasOut ??= new Map()
    const known = out.get(topic)
    if (known !== undefined) { props.topicAlias = known; return '' }
    if (out.size < this.aliasOutMax) {
      const alias = out.size + 1
      out.set(topic, alias)
      props.topicAlias = alias
    }
    return topic
  }

  sendPubrel (packetId: number): void {
    this.send({ cmd: 'pubrel', messageId: packetId })
  }

  // ---- closing ----

  /** Sends DISCONNECT (MQTT 5 only, once connected) with the reason, then closes. */
  disconnect (reasonCode: number, reason?: string): void {
    if (this.state === 'closed') return
    if (this.protocolVersion === 5 && this.state === 'connected') {
      const properties = reason && this.problemInfo ? { reasonString: reason } : undefined
      this.send({ cmd: 'disconnect', reasonCode, ...(properties ? { properties } : {}) })
    }
    this.close(reason ?? describeReason(reasonCode))
  }

  /** Ends the connection for a CulexError: DISCONNECT with its reason code where it has one (and MQTT 5 allows), else a plain close. */
  disconnectFor (err: CulexError): void {
    if (err.reasonCode === null) this.close(err.message)
    else this.disconnect(err.reasonCode, err.message)
  }

  /** Closes the connection once what was written has been flushed. */
  close (reason: string): void {
    if (this.state === 'closed') return
    try {
      this.#finish(reason)
    } finally {
      // Closed even when a clientDisconnected hook throws.
      this.flush()
      this.socket.end()
      setTimeout(() => this.socket.destroy(), 2000).unref()
    }
  }

  #finish (reason: string): void {
    if (this.state === 'closed') return
    const wasConnected = this.state === 'connected'
    this.state = 'closed'
    this.#backlog.length = 0
    this.core.connectionClosed(this, reason, wasConnected)
  }
}

function flushPending (conn: Connection): void {
  conn.flush()
}

function endYield (conn: Connection): void {
  conn.endYield()
}

function unthrottle (conn: Connection): void {
  conn.unthrottle()
}

function hasProperties (props: PublishProperties): boolean {
  for (const key in props) if ((props as Record<string, unknown>)[key] !== undefined) return true
  return false
}

/** An acknowledgement that is only its packet id: reason Success (or none, before MQTT 5), no properties, no DUP. */
function plainAck (packet: Packet): boolean {
  const ack = packet as { messageId?: number, reasonCode?: number, properties?: object, dup?: boolean }
  return typeof ack.messageId === 'number' && !ack.reasonCode && ack.properties === undefined && !ack.dup
}

/** A TLS handshake record (type 0x16, version 3.x): read as MQTT it is a CONNECT with reserved flags set. */
function isTlsRecordStart (chunk: Buffer): boolean {
  return chunk.length >= 3 && chunk[0] === 0x16 && chunk[1] === 0x03
}
