// One client's MQTT protocol state (EMQX: emqx_channel): what CONNECT negotiated, the session it is
// attached to, topic aliases, the memory it pins, and the encoding of what it is sent. Packets come in
// through dispatch(channel, packet) (dispatch.ts, then one handler per packet type); bytes go out
// through a Wire: src/mqtt/connection.ts over a socket, or anything that takes bytes, as the channel
// tests do. The channel knows nothing of sockets.
import mqtt from 'mqtt-packet'
import type { Packet } from 'mqtt-packet'
import type { Duplex } from 'node:stream'
import type { CulexConfig } from '../config/schema.js'
import type { Rate } from '../config/types.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { AlarmSink } from './alarms.js'
import type { BanList } from './banned.js'
import type { MessageBus } from './bus.js'
import { CongestionWatch } from './congestion.js'
import { cachedEncoding, rememberEncoding } from './encode-cache.js'
import type { DelayedPublisher } from './delayed.js'
import type { ExclusiveLocks } from './exclusive.js'
import type { FlappingDetector } from './flapping.js'
import { encodePlainAck, encodeV3Connack, isAckCommand, PINGRESP } from './packet-encoder.js'
import { encodePublish, OutgoingAliases } from './publish-encoding.js'
import type { ClientInfo, ConnInfo, EnhancedAuthExchange, EnhancedAuthStep, Hooks } from './hooks.js'
import { aliasBytes, memoryBudget } from './memory.js'
import type { Message } from './message.js'
import type { Metrics } from './metrics.js'
import { RC, describeReason } from './reason-codes.js'
import type { RetainedStore } from './store/index.js'
import type { SessionJournal } from './store/journal.js'
import type { SessionTransfer } from './store/session-record.js'
import type { Delivery, Session, SessionLink } from './session.js'
import type { TlsInfo } from './tls-info.js'
import type { Subscription } from './topic-tree.js'

export type ChannelState = 'new' | 'connecting' | 'connected' | 'closed'

/** What a listener knows about a connection it hands over. */
export interface TransportInfo {
  remoteAddress: string
  remotePort: number
  /** The listener's port the client reached (EMQX sockport), when known. */
  localPort?: number
  /** `tcp`, `ws`, `ssl`, `wss`. */
  transport: string
  /** For ssl and wss: the negotiated TLS parameters and the verified client certificate. */
  tls?: TlsInfo
}

/** The listener-level settings a channel needs. */
export interface ListenerContext {
  /** `tcp:default` */
  readonly id: string
  readonly mountpoint: string
  /** messages_rate and bytes_rate of each client; null or absent = none. */
  readonly messagesRate?: Rate | null
  readonly bytesRate?: Rate | null
  /** Told when a write leaves bytes the OS did not take (tcp_options.send_timeout watches the socket then). */
  sendBacklogged? (stream: Duplex, transport: TransportInfo): void
}

/** What a channel needs of the connection under it. */
export interface Wire {
  /** Queues bytes to send. */
  write (buf: Buffer): void
  /** Sends what is queued now. */
  flush (): void
  /** Bytes written and not yet sent. */
  readonly unsentBytes: number
  /** Bytes read and not handled yet: a packet read in part, reads held while a packet is handled. */
  readonly bufferedBytes: number
  /** Closes once what was written has been sent. */
  end (): void
}

/** The broker as a channel and its packet handlers see it (src/mqtt/core.ts provides it). */
export interface ChannelCore {
  readonly config: CulexConfig
  readonly log: Log
  readonly hooks: Hooks
  readonly metrics: Metrics
  readonly banned: Pick<BanList, 'check'>
  /** flapping_detect: told of each CONNECT that passed the ban check. */
  readonly flapping: Pick<FlappingDetector, 'connecting'>
  /** delayed: holds a $delayed/ message until it is due; false when delayed.max_delayed_messages are held. */
  readonly delayed: Pick<DelayedPublisher, 'hold'>
  /** Raises and clears alarms (conn_congestion). */
  readonly alarms: AlarmSink
  readonly journal: SessionJournal | undefined
  readonly bus: Pick<MessageBus, 'congested'>
  /** Sessions held on this node, by client id. */
  readonly sessions: { get (clientId: string): Session | undefined }
  /** Connected clients by client id. */
  readonly clients: ReadonlyMap<string, Channel>
  readonly retained: Pick<RetainedStore, 'match'>
  readonly registry: {
    /** Attaches the channel to its session (new or resumed); returns Session Present. */
    open (channel: Channel, clientId: string, cleanStart: boolean, expiryInterval: number): boolean
    /** A session another node handed over. */
    adopt (transfer: SessionTransfer): void
  }
  readonly router: {
    /** Returns whether the subscription is new (not a replaced one). */
    subscribe (session: Session, sub: Subscription<Session>): boolean
    unsubscribe (session: Session, filter: string): boolean
    /** `$exclusive/` filters' holders. */
    readonly exclusive: Pick<ExclusiveLocks, 'acquire'>
  }
  /** Set in a cluster: brings the client's session from the node that holds it (core.ts, ClusterLink). */
  readonly cluster: {
    takeover (clientId: string, cleanStart: boolean): Promise<SessionTransfer | undefined>
    connectAbandoned (clientId: string): void
    routesSynced (): Promise<void> | null
  } | null
  /** Accepts a message from a client: observers, retained store, subscribers. */
  publish (message: Message, client: ClientInfo | null): void
  channelClosed (channel: Channel, reason: string, wasConnected: boolean): void
  /** The client is connected: its keep-alive deadline starts now. */
  watchKeepalive (channel: Channel): void
  /** The channel has something for the core's sweep to look after (see Core.attend). */
  attend (channel: Channel): void
}

/** What CONNECT settled for the rest of the connection (handlers/connect.ts). */
export interface ConnectTerms {
  /** Seconds; 0 = none. */
  keepalive: number
  /** CONNECT's Clean Start (Clean Session in MQTT 3). */
  cleanStart: boolean
  /** Client's Receive Maximum bounded by mqtt.max_inflight. */
  sendWindow: number
  /** Client's Maximum Packet Size; we never send larger. */
  maxOutgoingPacket: number
  /** Client's Topic Alias Maximum (aliases we may assign). */
  aliasOutMax: number
  /** Whether reason strings and user properties may be sent (Request Problem Information). */
  problemInfo: boolean
  /** Mountpoint with ${clientid}/${username} expanded. */
  mountpoint: string
}

const DEFAULT_TERMS: Readonly<ConnectTerms> = {
  keepalive: 0, cleanStart: true, sendWindow: 65535, maxOutgoingPacket: Number.POSITIVE_INFINITY, aliasOutMax: 0, problemInfo: true, mountpoint: '',
}

export class Channel implements SessionLink {
  readonly core: ChannelCore
  readonly listener: ListenerContext
  readonly transport: TransportInfo
  readonly createdAt = Date.now()
  state: ChannelState = 'new'
  protocolVersion: 3 | 4 | 5 = 4
  client: ClientInfo | null = null
  session: Session | null = null
  /** When the client last sent anything (keep alive). */
  lastSeen = Date.now()
  /** Where the core's deadline wheel files this channel (deadline-wheel.ts). */
  wheelStep = -1
  // What CONNECT settled (ConnectTerms), as plain fields: read on every delivery. Set only by settle().
  readonly keepalive: number = DEFAULT_TERMS.keepalive
  readonly cleanStart: boolean = DEFAULT_TERMS.cleanStart
  readonly sendWindow: number = DEFAULT_TERMS.sendWindow
  readonly maxOutgoingPacket: number = DEFAULT_TERMS.maxOutgoingPacket
  readonly aliasOutMax: number = DEFAULT_TERMS.aliasOutMax
  readonly problemInfo: boolean = DEFAULT_TERMS.problemInfo
  readonly mountpoint: string = DEFAULT_TERMS.mountpoint
  /** Set once a DISCONNECT that keeps the will (0x04) or discards it has been received. */
  disconnectReceived = false
  /** MQTT 5 enhanced authentication under way: set from CONNECT until CONNACK. */
  enhancedAuth: { method: string, exchange: EnhancedAuthExchange, finish: (step: EnhancedAuthStep) => void | Promise<void> } | null = null
  /** The connection under this channel. */
  readonly wire: Wire
  /** The aliases we assigned, while the client allows any (Topic Alias Maximum > 0). */
  aliases: OutgoingAliases | null = null
  /** The client's aliases, made at the first. */
  #aliasIn: Map<number, string> | null = null
  /** What #aliasIn pins (src/mqtt/memory.ts). */
  #aliasInBytes = 0
  /** force_shutdown.max_heap_size, or Infinity (src/mqtt/memory.ts). */
  readonly #memoryBudget: number
  /** mqtt.max_write_buffer, read on every delivery. */
  readonly #maxWriteBuffer: number
  /** When the unsent data was first seen above mqtt.max_write_buffer (0 = it is not). */
  #slowSince = 0
  /** The last acknowledgement waiting for the data store, while one is. */
  #ackWait: Promise<void> | null = null
  /** conn_congestion's alarm for this connection, made the first time it is congested. */
  #congestion: CongestionWatch | null = null
  /** Run when the channel closes (timers of this connection only). */
  #onClose: (() => void)[] | null = null

  constructor (core: ChannelCore, wire: Wire, listener: ListenerContext, transport: TransportInfo) {
    this.core = core
    this.wire = wire
    this.listener = listener
    this.transport = transport
    this.#memoryBudget = memoryBudget(core.config)
    this.#maxWriteBuffer = core.config.mqtt.max_write_buffer
  }

  get clientId (): string { return this.client?.clientId ?? '' }

  get label (): string {
    return `${this.client?.clientId ?? '-'}@${this.transport.remoteAddress}:${this.transport.remotePort} on ${this.listener.id}`
  }

  /** Bytes written to this client and not yet sent. */
  get unsentBytes (): number { return this.wire.unsentBytes }

  // ---- what CONNECT settled ----

  /** What CONNECT settled, as observers (clientConnected, clientDisconnected) are told it. */
  connInfo (): ConnInfo {
    return {
      protoName: this.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      keepalive: this.keepalive,
      cleanStart: this.cleanStart,
      expiryInterval: this.session?.expiryInterval ?? 0,
      receiveMaximum: this.sendWindow,
      sockPort: this.transport.localPort ?? 0,
    }
  }

  /** Takes the terms CONNECT settled, before CONNACK is sent. */
  settle (terms: ConnectTerms): void {
    // Plain fields, not getters over a frozen ConnectTerms: the delivery path reads them for every message,
    // and the getters showed in the QoS 0 fan-out bench.
    Object.assign(this as { -readonly [K in keyof ConnectTerms]: ConnectTerms[K] }, terms)
    this.aliases = terms.aliasOutMax > 0 ? new OutgoingAliases(terms.aliasOutMax) : null
  }

  /** Runs `fn` when this channel closes (a timer that must not outlive the connection). */
  onClose (fn: () => void): void {
    (this.#onClose ??= []).push(fn)
  }

  // ---- input ----

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

  // ---- memory ----

  /**
   * What this client pins in memory (src/mqtt/memory.ts): its aliases, its session's subscriptions,
   * messages and will, and the partial packet being read. Data written and not yet sent is bounded on
   * its own (a slow consumer, see #slowConsumer), against the same force_shutdown.max_heap_size.
   */
  get pinnedBytes (): number {
    return this.#aliasInBytes + (this.session?.pinnedBytes ?? 0) + this.wire.bufferedBytes
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
      partial_packet: this.wire.bufferedBytes,
    }, 'disconnecting client: it holds more memory than force_shutdown.max_heap_size (topic aliases, subscriptions, queued and in-flight messages, partial packet)')
    this.disconnect(RC.QUOTA_EXCEEDED, 'force_shutdown: more memory held than max_heap_size')
    return true
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

  /** [MQTT-3.1.2-2]: an unknown protocol level is answered with CONNACK 0x01, then closed. */
  refuseProtocolLevel (): void {
    this.core.log.info({ client: this.label }, 'refused CONNECT: unsupported protocol version')
    this.wire.write(Buffer.from([0x20, 0x02, 0x00, 0x01]))
    this.close('unsupported protocol version')
  }

  // ---- output ----

  send (packet: Packet): void {
    if (this.state === 'closed') return
    const cmd = packet.cmd
    if (isAckCommand(cmd) && plainAck(packet)) this.#write(encodePlainAck(cmd, packet.messageId!))
    else if (cmd === 'pingresp') this.#write(PINGRESP)
    else if (cmd === 'connack' && this.protocolVersion !== 5 && typeof packet.returnCode === 'number') this.#write(encodeV3Connack(packet.sessionPresent, packet.returnCode))
    else this.#write(mqtt.generate(packet, { protocolVersion: this.protocolVersion }))
  }

  #write (buf: Buffer): void {
    this.wire.write(buf)
    this.core.metrics.bytesSent += buf.length
    this.core.metrics.packetsSent++
  }

  /**
   * Sends a PUBACK or PUBREC once the data store holds what the message was written to (persistent
   * sessions' queues, retained; `stored`, another write such as a delayed message's). Acknowledgements keep the order of their PUBLISH packets
   * [MQTT-4.6.0-2], so one that waits holds back those after it.
   */
  acknowledge (packet: Packet, stored?: Promise<void>): void {
    const barrier = this.core.journal?.barrier()
    if (barrier === undefined && stored === undefined && this.#ackWait === null) { this.send(packet); return }
    const wait: Promise<void> = Promise.all([this.#ackWait, barrier, stored]).then(() => {
      if (this.#ackWait === wait) this.#ackWait = null
      this.send(packet)
    }, (err: unknown) => {
      if (this.#ackWait === wait) this.#ackWait = null
      this.core.log.error({ client: this.label }, `message not acknowledged, the data store failed: ${(err as Error).message}`)
      this.disconnect(RC.UNSPECIFIED_ERROR, 'the message could not be stored')
    })
    this.#ackWait = wait
  }

  sendPublish (d: Delivery, dup: boolean): void {
    if (this.state !== 'connected') return
    const wire = this.wire
    const pending = wire.unsentBytes
    if (pending > this.#maxWriteBuffer) {
      this.checkCongestion(Date.now())
      if (this.#slowConsumer(d, pending)) return
    } else if (this.#slowSince !== 0) this.#slowSince = 0
    const m = d.message
    const v5 = this.protocolVersion === 5
    const simple = d.qos === 0 && !this.mountpoint && m.expiresAt === 0 && d.subIds === undefined && this.aliasOutMax === 0
    const aliasesBefore = this.aliases?.size ?? 0
    let buf = simple ? cachedEncoding(m, v5, d.retain) : undefined
    if (buf === undefined) {
      try {
        buf = encodePublish(d, dup, this)
      } catch (err) {
        // mqtt-packet refuses the message for this client (an invalid property only MQTT 5 carries, ...).
        // Nothing was written, so the client's state is intact: the message is dropped for it and the
        // client served on, as Mosquitto drops a message it cannot send to one client (an oversize one).
        this.core.metrics.deliveryErrors++
        this.core.log.warning({ client: this.label, topic: m.topic, err }, 'message dropped for this client: it cannot be encoded')
        this.#discard(d, aliasesBefore)
        return
      }
      if (simple) rememberEncoding(m, v5, d.retain, buf)
    }
    if (buf.length > this.maxOutgoingPacket) {
      // [MQTT-3.1.2-25]: discard, and act as if it was sent.
      this.core.log.debug({ client: this.label, topic: m.topic, size: buf.length }, 'message larger than the client\'s Maximum Packet Size dropped')
      this.#discard(d, aliasesBefore)
      return
    }
    wire.write(buf)
    const metrics = this.core.metrics
    metrics.bytesSent += buf.length
    metrics.packetsSent++
    metrics.messagesSent++
    metrics.messagesSentQos[d.qos]++
  }

  /**
   * conn_congestion: raises the connection's alarm while its unsent data is above mqtt.max_write_buffer,
   * clears it once it has not been for min_alarm_sustain_duration (src/mqtt/congestion.ts). Called as
   * messages are sent and by the core's sweep.
   */
  checkCongestion (now: number): void {
    const cfg = this.core.config.conn_congestion
    if (!cfg.enable_alarm || this.state !== 'connected') return
    const limit = this.core.config.mqtt.max_write_buffer
    const congested = this.wire.unsentBytes > limit
    if (this.#congestion === null) {
      if (!congested) return
      this.#congestion = new CongestionWatch(this.core.alarms, cfg.min_alarm_sustain_duration)
    }
    this.#congestion.update(this, congested, now, limit)
  }

  /** A PUBLISH not sent: dropped as if it had been delivered. `aliasesBefore`: how many outgoing aliases there were before it. */
  #discard (d: Delivery, aliasesBefore: number): void {
    // An alias this packet assigned never reached the client: forget it, or the next one would use it unnamed.
    this.aliases?.forgetSince(aliasesBefore)
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

  /** Asks the core's sweep to look after this channel (in-flight messages, awaited PUBRELs, a partial packet). */
  attend (): void {
    this.core.attend(this)
  }

  /** Whether a conn_congestion alarm is raised for this connection. */
  get congestionRaised (): boolean {
    return this.#congestion?.raised === true
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

  /** Closes the connection once what was written has been sent. */
  close (reason: string): void {
    if (this.state === 'closed') return
    try {
      this.ended(reason)
    } finally {
      // Closed even when a clientDisconnected hook throws.
      this.wire.end()
    }
  }

  /** The connection is gone (closed by either side): the session is left, the will armed. */
  ended (reason: string): void {
    if (this.state === 'closed') return
    const wasConnected = this.state === 'connected'
    this.state = 'closed'
    this.#congestion?.cancel(this, this.core.config.mqtt.max_write_buffer)
    const onClose = this.#onClose
    this.#onClose = null
    if (onClose !== null) for (const fn of onClose) fn()
    this.core.channelClosed(this, reason, wasConnected)
  }
}

/** An acknowledgement that is only its packet id: reason Success (or none, before MQTT 5), no properties, no DUP. */
function plainAck (packet: Packet): boolean {
  const ack = packet as { messageId?: number, reasonCode?: number, properties?: object, dup?: boolean }
  return typeof ack.messageId === 'number' && !ack.reasonCode && ack.properties === undefined && !ack.dup
}
