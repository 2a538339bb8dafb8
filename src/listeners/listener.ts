// What every listener offers the broker; TLS listeners (ssl, wss) implement the same shape.
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { AccessRule } from '../config/access-rules.js'
import type { BindAddress, Rate } from '../config/types.js'
import type { ListenerContext, TransportInfo } from '../mqtt/channel.js'
import type { TlsInfo } from '../mqtt/tls-info.js'
import type { ServedChain } from './cert-expiry.js'
import type { ListenerCore } from './listener-core.js'
import { unsentBytes } from '../mqtt/socket-writes.js'
import { acceptQuickly } from './accept.js'
import { AcceptGuard } from './accept-guard.js'
import { AccessRules } from './access-rules.js'
import { close, listen } from './net-util.js'
import { ProxyProtocolReader, proxiedPeer, socketPeer } from './proxy-protocol.js'

export interface Listener extends ListenerContext {
  readonly type: string
  readonly name: string
  readonly enabled: boolean
  readonly running: boolean
  readonly connectionCount: number
  /** The bound address once started (port 0 resolved). */
  address (): { host: string, port: number } | null
  start (): Promise<void>
  /** Stops accepting, gives open connections `graceMs` to end, then closes them. */
  stop (graceMs?: number): Promise<void>
  /** ssl and wss: the certificate chains handshakes get now (empty while stopped). */
  servedCertificates? (): ServedChain[]
}

/** tcp_options.send_timeout, send_timeout_close and high_watermark. */
export interface SendTimeout { timeoutMs: number, close: boolean, highWatermark: number }

/** A stream whose unsent bytes send_timeout watches. */
interface Backlog {
  /** When its unsent bytes were first seen at or above high_watermark (0 = they are not). */
  busySince: number
  /** Its peer, named in the log when send_timeout acts. */
  transport: TransportInfo
}

/**
 * Connection accounting shared by all listener types: max_connections, the open-socket set, and
 * send_timeout: a connection whose unsent bytes (not taken by the OS: the client does not read) stay at or
 * above high_watermark for send_timeout is closed (send_timeout_close) or logged, as EMQX's blocked send
 * times out. One sweep per listener, at most every second, over the sockets a write left bytes in (watch()),
 * while there are any: idle connections cost nothing.
 */
export class ConnectionGate {
  /** Open streams → the socket under each when there is another (a WebSocket's TCP or TLS socket), else null. */
  readonly #sockets = new Map<Duplex, Duplex | null>()
  /** Streams a write left unsent bytes in, until they drain below high_watermark. */
  readonly #backlogged = new Map<Duplex, Backlog>()
  /** Streams send_timeout_close = false warned about: once per connection. */
  readonly #warned = new WeakSet<Duplex>()
  readonly #max: number
  readonly #core: ListenerCore
  readonly #context: ListenerContext
  readonly #send: SendTimeout | null
  #sweep: NodeJS.Timeout | null = null
  /** Every stream's 'close' listener: one function for all (EventEmitter calls it on the stream), none made per connection. */
  readonly #onClose: (this: Duplex) => void

  constructor (core: ListenerCore, context: ListenerContext, max: number, send: SendTimeout | null = null) {
    this.#core = core
    this.#context = context
    this.#max = max
    this.#send = send !== null && send.timeoutMs > 0 ? send : null
    const sockets = this.#sockets
    const backlogged = this.#backlogged
    this.#onClose = function (this: Duplex) {
      sockets.delete(this)
      backlogged.delete(this)
    }
  }

  get size (): number { return this.#sockets.size }

  /** Hands a new stream to the MQTT core, or closes it when the listener is full. `raw`: the socket under it, if another. */
  admit (stream: Duplex, transport: TransportInfo, raw: Duplex | null = null): void {
    if (this.#core.closing) {
      stream.destroy()
      return
    }
    if (this.#sockets.size >= this.#max) {
      this.#core.log.warning({ listener: this.#context.id, peer: `${transport.remoteAddress}:${transport.remotePort}`, max: this.#max },
        'connection refused: listener at max_connections')
      this.#core.metrics.connectionsRefused++
      stream.destroy()
      return
    }
    this.#sockets.set(stream, raw === stream ? null : raw)
    stream.on('close', this.#onClose)
    this.#core.accept(stream, this.#context, transport)
  }

  /** A write left bytes the OS did not take in `stream`: send_timeout watches it. */
  watch (stream: Duplex, transport: TransportInfo): void {
    if (this.#send === null || this.#backlogged.has(stream) || !this.#sockets.has(stream)) return
    this.#backlogged.set(stream, { busySince: 0, transport })
    this.#sweep ??= setInterval(() => this.#checkSends(), Math.min(1000, Math.max(50, this.#send.timeoutMs / 4))).unref()
  }

  #checkSends (): void {
    const send = this.#send!
    if (this.#backlogged.size === 0) {
      clearInterval(this.#sweep!)
      this.#sweep = null
      return
    }
    const now = Date.now()
    for (const [stream, backlog] of this.#backlogged) {
      const raw = this.#sockets.get(stream) ?? null
      const unsent = unsentBytes(stream) + (raw === null ? 0 : unsentBytes(raw))
      if (unsent < send.highWatermark) {
        // Below the mark it can only grow again through a write, which calls watch().
        this.#backlogged.delete(stream)
        continue
      }
      if (backlog.busySince === 0) { backlog.busySince = now; continue }
      if (now - backlog.busySince < send.timeoutMs) continue
      const details = { listener: this.#context.id, peer: `${backlog.transport.remoteAddress}:${backlog.transport.remotePort}`, unsent, high_watermark: send.highWatermark, send_timeout_ms: send.timeoutMs }
      if (send.close) {
        this.#core.metrics.limits.slowConsumerDisconnected++
        this.#core.log.info(details, 'closing connection: its unsent data stayed above tcp_options.high_watermark for send_timeout (the client does not read)')
        stream.destroy()
        raw?.destroy()
      } else if (!this.#warned.has(stream)) {
        this.#warned.add(stream)
        this.#core.log.warning(details, 'send timeout: unsent data above tcp_options.high_watermark for send_timeout (send_timeout_close = false: the connection stays open; logged once per connection)')
      }
    }
  }

  /** Waits up to `graceMs` for the connections to end by themselves, then destroys the rest. */
  async drain (graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs
    while (this.#sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    for (const s of this.#sockets.keys()) s.destroy()
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
  }
}

export interface TcpOptions { nodelay: boolean, backlog: number, keepalive: string, send_timeout: number, send_timeout_close: boolean, high_watermark: number }

/** The settings every socket-server listener has. */
export interface NetListenerConfig {
  enable: boolean
  bind: BindAddress
  mountpoint: string
  max_connections: number
  max_conn_rate: Rate | null
  messages_rate: Rate | null
  bytes_rate: Rate | null
  tcp_options: TcpOptions
  access_rules: AccessRule[]
  proxy_protocol: boolean
  proxy_protocol_timeout: number
}

/**
 * A socket's TransportInfo: its client's address, port and the port it reached, from the PROXY protocol
 * header when the listener read one, and the TLS facts: the header's when the proxy terminated the
 * client's TLS (PP2_TYPE_SSL), else `tls`, the listener's own handshake. `localPort`: the listener's
 * (socket.localPort would cost a getsockname call per connection).
 */
export function socketTransport (socket: Socket, transport: string, localPort: number, tls?: TlsInfo): TransportInfo {
  const peer = proxiedPeer(socket)
  const from = peer ?? socketPeer(socket)
  const info: TransportInfo = { remoteAddress: from.address, remotePort: from.port, localPort: peer?.localPort ?? localPort, transport }
  const used = peer?.tls ?? tls
  if (used) info.tls = used
  return info
}

/** tcp_options as net.Server options (Nagle off, TCP keepalive): for net, tls and https servers alike. */
export function tcpServerOptions (options: TcpOptions): { noDelay: boolean, keepAlive: boolean, keepAliveInitialDelay: number } {
  // EMQX writes keepalive as "idle,interval,probes" in seconds; Node can set only the idle time.
  const idle = options.keepalive === 'none' ? 0 : Number(options.keepalive.split(',')[0])
  return { noDelay: options.nodelay, keepAlive: idle > 0, keepAliveInitialDelay: idle * 1000 }
}

/** A net.Server whose sockets get tcp_options before `onSocket`. */
export function createTcpServer (options: TcpOptions, onSocket: (socket: Socket) => void): Server {
  return createServer(tcpServerOptions(options), onSocket)
}

/** A listener on a Node server (net, http, tls, https): binding, accounting and graceful stop. */
export abstract class NetListener<C extends NetListenerConfig> implements Listener {
  abstract readonly type: string
  readonly name: string
  readonly id: string
  readonly mountpoint: string
  readonly messagesRate: Rate | null
  readonly bytesRate: Rate | null
  readonly enabled: boolean
  protected readonly core: ListenerCore
  protected readonly config: C
  protected readonly gate: ConnectionGate
  #server: Server | null = null
  #guard: AcceptGuard | null = null
  /** The port the listener is bound to (0 while stopped): the port its connections reached. */
  protected port = 0

  constructor (core: ListenerCore, type: string, name: string, config: C) {
    this.name = name
    this.id = `${type}:${name}`
    this.mountpoint = config.mountpoint
    this.messagesRate = config.messages_rate
    this.bytesRate = config.bytes_rate
    this.enabled = config.enable
    this.core = core
    this.config = config
    const tcp = config.tcp_options
    this.gate = new ConnectionGate(core, this, config.max_connections, { timeoutMs: tcp.send_timeout, close: tcp.send_timeout_close, highWatermark: tcp.high_watermark })
  }

  get running (): boolean { return this.#server?.listening ?? false }
  get connectionCount (): number { return this.gate.size }

  sendBacklogged (stream: Duplex, transport: TransportInfo): void {
    this.gate.watch(stream, transport)
  }

  address () {
    const a = this.#server?.address()
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null
  }

  /** A server whose connections go to `this.gate.admit`. */
  protected abstract createServer (): Server

  /** Closes what the subclass added once the connections are gone. */
  protected afterDrain (_server: Server | null): void {}

  /** Asynchronous set-up before the server is created (reading a certificate store, ...). */
  protected async prepare (): Promise<void> {}

  async start (): Promise<void> {
    await this.prepare()
    const server = this.createServer()
    const access = AccessRules.create(this.config.access_rules)
    // With proxy_protocol, access_rules apply to the client's address from the header, once it is read.
    if (this.config.proxy_protocol) new ProxyProtocolReader(this.core, this.id, this.config.proxy_protocol_timeout, access, this.type === 'tcp').install(server)
    this.#guard = AcceptGuard.create(this.core, this.id, this.config.max_conn_rate, this.config.tcp_options.backlog, this.config.proxy_protocol ? null : access)
    this.#guard?.install(server)
    await listen(server, this.config.bind, this.config.tcp_options.backlog, this.id)
    acceptQuickly(server, (err) => this.core.log.warning({ listener: this.id, err: err.message }, `a connection could not be accepted: ${err.message}`))
    this.#server = server
    this.port = this.address()?.port ?? 0
  }

  async stop (graceMs = 0): Promise<void> {
    const server = this.#server
    this.#server = null
    this.port = 0
    const closed = server ? close(server) : Promise.resolve()
    this.#guard?.close()
    await this.gate.drain(graceMs)
    this.afterDrain(server)
    await closed
  }
}
