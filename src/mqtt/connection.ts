// One client connection's socket side (EMQX: emqx_connection): bytes in through the frame guard and the
// packet reader to the client's Channel, packets out gathered per read (or tick) so that a burst of
// deliveries leaves in one write; reads held while a packet is handled asynchronously, for a rate limit,
// or to let other clients read.
import type { Socket as NetSocket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { Duplex } from 'node:stream'
import type { Packet, IPublishPacket } from 'mqtt-packet'
import { CulexError } from '../errors.js'
import { Channel, type ChannelCore, type ListenerContext, type TransportInfo, type Wire } from './channel.js'
import { dispatch } from './dispatch.js'
import { FrameGuard } from './frame-guard.js'
import { PacketReader, type PacketSink } from './packet-reader.js'
import { PublishLimiter } from './rate-limit.js'
import { isPlainSocket, onReads, type ReadSink } from './socket-reads.js'
import { directWrites, unsentBytes, writeDirect } from './socket-writes.js'

/** Bytes read from one client before it lets the others read (a turn of the event loop). */
const READ_SLICE = 64 * 1024
/** Bytes read while reads are held (see #held) before the socket stops reading. */
const HELD_LIMIT = 64 * 1024
/** Up to this many bytes a tick's packets are copied into one buffer; above, they go as a writev. */
const CONCAT_LIMIT = 256 * 1024
/** A closed connection's socket is destroyed if the peer has not finished closing by then. */
const END_GRACE_MS = 2000
/** Sockets due for destruction within this long of each other are destroyed together (one timer, not one each). */
const END_BATCH_MS = 250

// mqtt-packet reports these as parse errors; MQTT 5 makes them Protocol Errors, not Malformed Packets (spec 3.8.3.1).
const PARSER_PROTOCOL_ERRORS = new Set(['Invalid subscribe QoS, must be <= 2', 'Invalid retain handling, must be <= 2'])

const kConnection = Symbol('culex.connection')
type Owned = Duplex & { [kConnection]: Connection }

function onSocketError (this: Duplex, err: Error): void { (this as Owned)[kConnection].socketFailed(err) }
function onSocketClose (this: Duplex): void { (this as Owned)[kConnection].socketClosed() }
/** A half-open client (it sent FIN first) is answered with ours; ending twice would build an error to drop. A stream that does not allow half-open (a net.Server's socket) ends itself. */
function answerEnd (this: Duplex): void { if (!this.writableEnded) this.end() }

export class Connection implements Wire, PacketSink, ReadSink {
  readonly channel: Channel
  readonly socket: Duplex
  readonly #core: ChannelCore
  readonly #reader: PacketReader
  readonly #guard: FrameGuard
  /**
   * Packets written during this read or tick, sent together when it ends (see write()): the first, and all of them
   * once there is a second (a list only then, so that one message at a time allocates none).
   */
  #first: Buffer | null = null
  #all: Buffer[] | null = null
  #pendingBytes = 0
  /** Bytes read since this connection last let the others read (see chunkRead). */
  #readSinceYield = 0
  #yielding = false
  #busy = false
  /** Packets read while one is handled asynchronously or reads are throttled (made at first use). */
  #backlog: Packet[] | null = null
  /**
   * Chunks read while reads are held (a read slice's wait, a packet handled asynchronously, a rate limit),
   * handled in order once they no longer are; past HELD_LIMIT bytes the socket itself stops reading. A
   * short hold thus costs no system call: a socket reading through one buffer (socket-reads.ts) stops
   * and restarts its reads in the kernel's poll set, where a Readable stream only stops emitting.
   */
  #held: Buffer[] | null = null
  #heldBytes = 0
  #socketPaused = false
  /** messages_rate / bytes_rate, when the listener limits them. */
  readonly #limiter: PublishLimiter | null
  /** Reads paused by #limiter until a timer resumes them. */
  #throttled = false
  #wasThrottled = false
  readonly #listener: ListenerContext
  /** This connection's place in the queue of ended sockets (see destroyLater), once it ended the socket. */
  #ending: Ending | null = null
  /** The socket when a whole buffer can go to its handle without the stream (socket-writes.ts). */
  readonly #direct: NetSocket | null

  constructor (core: ChannelCore, socket: Duplex, listener: ListenerContext, transport: TransportInfo) {
    this.#core = core
    this.socket = socket
    this.#listener = listener
    this.channel = new Channel(core, this, listener, transport)
    this.#guard = new FrameGuard(core.config.mqtt.max_packet_size)
    this.#limiter = PublishLimiter.create(listener.messagesRate ?? null, listener.bytesRate ?? null)
    this.#reader = new PacketReader(this)
    this.#direct = directWrites(socket)
    onReads(socket, this)
    // The socket's listeners are the same functions for every connection; they find it on the socket.
    ;(socket as Owned)[kConnection] = this
    socket.on('error', onSocketError)
    socket.on('close', onSocketClose)
    if (socket.allowHalfOpen) socket.on('end', answerEnd)
  }

  /** @internal the socket failed */
  socketFailed (err: Error): void {
    this.#ended(`socket error: ${err.message}`)
  }

  /** @internal the socket closed */
  socketClosed (): void {
    // Closed before its grace period ran out: the queue no longer holds the socket (and with it this
    // connection's objects) for the rest of it.
    if (this.#ending !== null) this.#ending.socket = null
    this.#ended(this.channel.state === 'closed' ? 'closed' : 'connection lost')
  }

  /** @internal whether mqtt-packet's parser is held now (see packet-reader.ts) */
  get holdsParser (): boolean { return this.#reader.holdsParser }

  get bufferedBytes (): number { return this.#reader.bufferedBytes + this.#heldBytes }

  #closed (): boolean { return this.channel.state === 'closed' }

  /** Forgets what was read and not handled: the connection is done with it. */
  #dropInput (): void {
    if (this.#backlog !== null) this.#backlog.length = 0
    this.#held = null
    this.#heldBytes = 0
  }

  #ended (reason: string): void {
    this.#dropInput()
    this.channel.ended(reason)
  }

  // ---- input ----

  /** @internal ReadSink: the socket's reads */
  chunkRead (chunk: Buffer): void {
    if (reading) {
      this.#arrive(chunk)
      return
    }
    reading = true
    try {
      this.#arrive(chunk)
    } finally {
      reading = false
      flushWritten()
    }
  }

  #holding (): boolean { return this.#busy || this.#throttled || this.#yielding }

  #arrive (chunk: Buffer): void {
    if (this.#held === null && !this.#holding()) {
      this.#read(chunk)
      return
    }
    if (this.#closed()) return
    ;(this.#held ??= []).push(chunk)
    this.#heldBytes += chunk.length
    if (this.#heldBytes >= HELD_LIMIT && !this.#socketPaused) {
      this.#socketPaused = true
      this.socket.pause()
    }
  }

  /** Handles the chunks held while reads were, until one holds them again; the socket reads again once none are left. */
  #release (): void {
    const held = this.#held
    while (held !== null && held.length > 0 && !this.#holding() && !this.#closed()) {
      const chunk = held.shift()!
      this.#heldBytes -= chunk.length
      this.#read(chunk)
    }
    if (held !== null && held.length === 0) this.#held = null
    if (this.#socketPaused && this.#held === null && !this.#holding() && !this.#closed()) {
      this.#socketPaused = false
      this.socket.resume()
    }
  }

  #read (chunk: Buffer): void {
    if (this.#closed()) return
    const channel = this.channel
    channel.lastSeen = Date.now()
    this.#core.metrics.bytesReceived += chunk.length
    if (channel.state === 'new' && isTlsRecordStart(chunk) && (this.socket as { bytesRead?: number }).bytesRead === chunk.length) {
      channel.protocolError(new CulexError('CULEX_ERR_MQTT_MALFORMED', 'a TLS ClientHello on a plain MQTT port: use the ssl port (8883) or turn TLS off in the client'))
      return
    }
    const frameError = this.#guard.check(chunk)
    if (frameError === 'packet_too_large') {
      channel.protocolError(new CulexError('CULEX_ERR_MQTT_PACKET_TOO_LARGE', `packet larger than mqtt.max_packet_size (${this.#guard.maxPacketSize} bytes)`))
      return
    }
    if (frameError) {
      channel.protocolError(new CulexError('CULEX_ERR_MQTT_MALFORMED', 'remaining length longer than 4 bytes'))
      return
    }
    this.#reader.read(chunk)
    if (this.#reader.holdsParser) channel.attend()
    // libuv reads up to 32 chunks of 64 KiB from one socket per turn: a client sending at full speed
    // would hold the event loop for all of them. Past READ_SLICE this one waits a turn, so the other
    // clients, timers and accept() get theirs.
    if ((this.#readSinceYield += chunk.length) >= READ_SLICE) this.#yieldReads()
  }

  #yieldReads (): void {
    this.#readSinceYield = 0
    if (this.#yielding || this.#closed()) return
    this.#yielding = true
    setImmediate(endYield, this)
  }

  /** @internal the end of a read slice's wait */
  endYield (): void {
    this.#yielding = false
    this.#release()
  }

  /** @internal PacketSink: the reader's packets */
  packetRead (packet: Packet): void {
    if (this.#closed()) return
    if (this.#busy || this.#throttled) { (this.#backlog ??= []).push(packet); return }
    this.#handle(packet)
  }

  /** @internal PacketSink */
  readStopped (): boolean { return this.#closed() }

  #handle (packet: Packet): void {
    let result: void | Promise<void>
    try {
      result = dispatch(this.channel, packet)
    } catch (err) {
      this.channel.protocolError(err)
      return
    }
    if (result instanceof Promise) {
      this.#busy = true
      result.then(() => this.#resume(), (err: unknown) => { this.#busy = false; this.channel.protocolError(err) })
    }
    if (this.#limiter !== null && packet.cmd === 'publish') this.#charge(packet)
  }

  /** messages_rate / bytes_rate: over them, stop reading (and handling what was read) until the rate allows. */
  #charge (packet: IPublishPacket): void {
    const wait = this.#limiter!.charge(packet.length ?? packet.payload.length, Date.now())
    if (wait === 0 || this.#closed()) return
    this.#core.metrics.limits.publishThrottled++
    if (!this.#wasThrottled) {
      this.#wasThrottled = true
      this.#core.log.info({ client: this.channel.label, pause_ms: wait }, 'client throttled by messages_rate / bytes_rate (logged once per connection)')
    }
    this.#throttled = true
    setTimeout(unthrottle, wait, this).unref()
  }

  /** @internal the throttle timer */
  unthrottle (): void {
    this.#throttled = false
    // Silent because we did not read: keep alive counts from now.
    this.channel.lastSeen = Date.now()
    if (!this.#busy) this.#resume()
  }

  #resume (): void {
    this.#busy = false
    const backlog = this.#backlog
    while (backlog !== null && !this.#busy && !this.#throttled && backlog.length > 0 && !this.#closed()) this.#handle(backlog.shift()!)
    this.#release()
  }

  /** @internal PacketSink: mqtt-packet refused the bytes */
  packetRefused (err: Error): void {
    const channel = this.channel
    if (channel.state === 'closed') return
    if (err.message === 'Invalid protocol version' && channel.state === 'new') channel.refuseProtocolLevel()
    else if (PARSER_PROTOCOL_ERRORS.has(err.message)) channel.protocolError(new CulexError('CULEX_ERR_MQTT_PROTOCOL', `protocol error: ${err.message}`))
    else channel.protocolError(new CulexError('CULEX_ERR_MQTT_MALFORMED', `malformed packet: ${err.message}`))
  }

  // ---- output ----

  /**
   * Queues bytes; everything written while a read is handled leaves as one buffer when it ends, and
   * everything written otherwise on the next tick. One socket write per read or tick instead of one per
   * packet: no per-packet stream bookkeeping, and no limit of 1,024 buffers per writev when a burst of
   * small deliveries goes to one client.
   */
  write (buf: Buffer): void {
    if (this.#first === null) {
      if (reading) written[writtenCount++] = this
      else process.nextTick(flushPending, this)
      this.#first = buf
    } else if (this.#all === null) this.#all = [this.#first, buf]
    else this.#all.push(buf)
    this.#pendingBytes += buf.length
  }

  /** @internal called on the next tick after the first write of a tick */
  flush (): void {
    const first = this.#first
    if (first === null) return
    const all = this.#all
    const bytes = this.#pendingBytes
    this.#first = null
    this.#all = null
    this.#pendingBytes = 0
    if (all === null) this.#writeOne(first)
    else if (bytes <= CONCAT_LIMIT) this.#writeOne(Buffer.concat(all, bytes))
    else {
      // Large payloads: hand them over as they are, in one writev, rather than copy them.
      this.socket.cork()
      for (const buf of all) this.socket.write(buf)
      this.socket.uncork()
    }
    // The OS did not take it all: the listener's send_timeout watches this socket until it drains.
    if (unsentBytes(this.socket) > 0) this.#listener.sendBacklogged?.(this.socket, this.channel.transport)
  }

  #writeOne (buf: Buffer): void {
    if (this.#direct !== null) writeDirect(this.#direct, buf)
    else this.socket.write(buf)
  }

  /** Unsent bytes: queued this tick plus what the socket holds. */
  get unsentBytes (): number { return this.#pendingBytes + unsentBytes(this.socket) }

  end (): void {
    this.#dropInput()
    // Read (and drop) what the client still sends until it closes: a socket left paused would fill, and
    // its destruction at the end of the grace period would reset a client that is still writing.
    if (this.#socketPaused) {
      this.#socketPaused = false
      this.socket.resume()
    }
    this.flush()
    if (this.channel.disconnectReceived && isPlainSocket(this.socket) && unsentBytes(this.socket) === 0) {
      // The client said DISCONNECT and everything written is with the kernel: close now, as Mosquitto does.
      // Ending first would cost a shutdown(), a wake-up for it and a grace period per connection. TLS
      // (close_notify) and WebSocket (a close frame) still end politely.
      this.socket.destroy()
      return
    }
    this.socket.end()
    this.#ending = destroyLater(this.socket)
  }
}

/**
 * Whether a read is being handled, and the connections written to meanwhile: they are flushed when it
 * ends rather than on the next tick. A packet read alone then queues no tick, and Node skips its tick and
 * microtask processing after the read callback.
 */
let reading = false
const written: (Connection | null)[] = []
/** Entries of `written` in use; the array is not shortened (setting an array's length is a runtime call). */
let writtenCount = 0

function flushWritten (): void {
  for (let i = 0; i < writtenCount; i++) {
    written[i]!.flush()
    written[i] = null
  }
  writtenCount = 0
}

/** An ended socket waiting for its peer; `socket` is cleared once it closes. */
interface Ending { socket: Duplex | null, readonly due: number }

/**
 * Sockets ended by us, destroyed END_GRACE_MS later if the peer has not finished closing by then. One
 * queue and one timer for all: every socket waits the same time, so the queue is in due order, and a
 * connection's end costs no timer of its own.
 */
const ending: Ending[] = []
let endingHead = 0
let endingTimer: NodeJS.Timeout | null = null

function destroyLater (socket: Duplex): Ending {
  const entry: Ending = { socket, due: performance.now() + END_GRACE_MS }
  ending.push(entry)
  endingTimer ??= setTimeout(destroyDue, END_GRACE_MS).unref()
  return entry
}

function destroyDue (): void {
  const now = performance.now()
  while (endingHead < ending.length && ending[endingHead]!.due <= now) {
    const { socket } = ending[endingHead]!
    ending[endingHead++] = undefined as never
    if (socket !== null && !socket.destroyed) socket.destroy()
  }
  if (endingHead === ending.length) {
    ending.length = 0
    endingHead = 0
    endingTimer = null
    return
  }
  if (endingHead > 1024 && endingHead * 2 > ending.length) {
    ending.splice(0, endingHead)
    endingHead = 0
  }
  // Under connection churn every entry is due at its own time: waking for each would cost a timer per connection.
  endingTimer = setTimeout(destroyDue, Math.max(ending[endingHead]!.due - now, END_BATCH_MS)).unref()
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

/** A TLS handshake record (type 0x16, version 3.x): read as MQTT it is a CONNECT with reserved flags set. */
function isTlsRecordStart (chunk: Buffer): boolean {
  return chunk.length >= 3 && chunk[0] === 0x16 && chunk[1] === 0x03
}
