// MQTT over WebSocket: an HTTP server upgrading requests on websocket.mqtt_path.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { isIP, type Server as NetServer } from 'node:net'
import type { Duplex } from 'node:stream'
import type { WebSocket, WebSocketServer } from 'ws'
import type { WsListenerConfig } from '../config/schema.js'
import type { TransportInfo } from '../mqtt/channel.js'
import { NetListener, socketTransport } from './listener.js'
import { proxiedPeer, socketPeer } from './proxy-protocol.js'
import type { ListenerCore } from './listener-core.js'

export class WsListener<C extends WsListenerConfig = WsListenerConfig> extends NetListener<C> {
  readonly type: string = 'ws'
  #wss: WebSocketServer | null = null
  /** The ws library, loaded when a ws or wss listener starts: a broker without one never loads it. */
  #lib: typeof import('ws') | null = null

  constructor (core: ListenerCore, name: string, config: C, type = 'ws') {
    super(core, type, name, config)
    this.type = type
  }

  protected override async prepare (): Promise<void> {
    this.#lib ??= await import('ws')
  }

  protected createServer (): NetServer {
    const server = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket: upgrade at ${this.config.websocket.mqtt_path}\n`)
    })
    this.#wss = this.attachWebSocket(server)
    return server
  }

  /** Upgrades requests on the MQTT path and hands each WebSocket to the gate as a stream. */
  protected attachWebSocket (server: Server): WebSocketServer {
    const ws = this.config.websocket
    const supported = new Set(ws.supported_subprotocols)
    const origins = new Set(ws.check_origins)
    const { WebSocketServer, createWebSocketStream } = this.#lib!
    const packetLimit = this.core.config.mqtt.max_packet_size + 8
    const frameLimited = ws.max_frame_size < packetLimit
    const wss = new WebSocketServer({
      server,
      maxPayload: Math.min(packetLimit, ws.max_frame_size),
      perMessageDeflate: ws.compress ? deflateOptions(ws.deflate_opts) : false,
      skipUTF8Validation: !ws.validate_utf8,
      handleProtocols: (offered: Set<string>) => [...offered].find((p) => supported.has(p)) ?? false,
      verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
        // The MQTT.js command line (and Mosquitto's clients) connect at "/": it is served as well as mqtt_path.
        const path = (info.req.url ?? '/').split('?')[0]
        if (path !== ws.mqtt_path && path !== '/') return done(false, 404, `MQTT over WebSocket is served at ${ws.mqtt_path}`)
        if (ws.check_origin_enable) {
          const origin = info.req.headers.origin
          if (origin === undefined ? !ws.allow_origin_absence : !origins.has(origin)) {
            const peer = this.transportInfo(info.req)
            this.core.log.warning({ listener: this.id, peer: `${peer.remoteAddress}:${peer.remotePort}`, origin: origin ?? null },
              `WebSocket upgrade refused: ${origin === undefined ? 'no Origin header (websocket.allow_origin_absence = false)' : 'Origin not in websocket.check_origins'}`)
            return done(false, 403, 'origin not allowed')
          }
        }
        const offered = (info.req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean)
        if (offered.length === 0 && ws.fail_if_no_subprotocol) return done(false, 400, 'a WebSocket subprotocol (mqtt) is required')
        if (offered.length > 0 && !offered.some((p) => supported.has(p))) return done(false, 400, `unsupported subprotocol ${offered.join(',')}`)
        done(true)
      },
    })
    wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
      req.socket.setNoDelay(this.config.tcp_options.nodelay)
      const peer = this.transportInfo(req)
      const stream = createWebSocketStream(socket)
      if (ws.mqtt_piggyback === 'single') sendPacketsApart(stream, socket)
      if (ws.idle_timeout > 0) this.#closeWhenIdle(socket, req, peer, ws.idle_timeout)
      stream.on('error', (err: Error & { code?: string }) => {
        // ws buffers a whole frame before we see it, so an oversize MQTT packet in one frame is refused here.
        const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? frameLimited
            ? `WebSocket message larger than websocket.max_frame_size (${ws.max_frame_size} bytes)`
            : `WebSocket message larger than mqtt.max_packet_size (${this.core.config.mqtt.max_packet_size} bytes)`
          : err.message
        this.core.log.warning({ listener: this.id, peer: `${peer.remoteAddress}:${peer.remotePort}` }, `closing WebSocket connection: ${reason}`)
        stream.destroy()
      })
      this.gate.admit(stream, peer, req.socket)
    })
    return wss
  }

  /** websocket.idle_timeout: closes the WebSocket when nothing has been received for that long. */
  #closeWhenIdle (socket: WebSocket, req: IncomingMessage, peer: TransportInfo, ms: number): void {
    const timer = setTimeout(() => {
      this.core.log.info({ listener: this.id, peer: `${peer.remoteAddress}:${peer.remotePort}`, idle_timeout_ms: ms }, 'closing WebSocket connection: nothing received for websocket.idle_timeout')
      socket.terminate()
    }, ms).unref()
    const refresh = () => timer.refresh()
    req.socket.on('data', refresh)
    socket.once('close', () => {
      clearTimeout(timer)
      req.socket.off('data', refresh)
    })
  }

  /**
   * The client's address and port: the socket's, or behind a proxy the first entry of
   * websocket.proxy_address_header / proxy_port_header when configured and valid (EMQX's get_peer).
   */
  protected transportInfo (req: IncomingMessage): TransportInfo {
    // A PROXY protocol header wins over the HTTP headers, as in EMQX.
    if (proxiedPeer(req.socket)) return socketTransport(req.socket, this.type, this.port)
    const ws = this.config.websocket
    const own = socketPeer(req.socket)
    let remoteAddress = own.address
    let remotePort = own.port
    if (ws.proxy_address_header) {
      const first = firstHeaderValue(req, ws.proxy_address_header)
      if (first !== undefined && isIP(first) !== 0) remoteAddress = first
    }
    if (ws.proxy_port_header) {
      const first = firstHeaderValue(req, ws.proxy_port_header)
      if (first !== undefined && /^\d{1,5}$/.test(first) && Number(first) <= 65535) remotePort = Number(first)
    }
    return { remoteAddress, remotePort, localPort: this.port, transport: this.type }
  }

  protected override afterDrain (server: NetServer | null): void {
    for (const client of this.#wss?.clients ?? []) client.terminate()
    this.#wss?.close()
    this.#wss = null
    if (server && 'closeAllConnections' in server) (server as Server).closeAllConnections()
  }
}

/** The first entry of a header that may list several ("client, proxy1, proxy2"). */
function firstHeaderValue (req: IncomingMessage, name: string): string | undefined {
  const raw = req.headers[name.toLowerCase()]
  const text = Array.isArray(raw) ? raw[0] : raw
  return text?.split(/[\s,]+/).find(Boolean)
}

type DeflateOpts = WsListenerConfig['websocket']['deflate_opts']

const ZLIB_LEVELS = { none: 0, default: -1, best_compression: 9, best_speed: 1 } as const
const ZLIB_STRATEGIES = { default: 0, filtered: 1, huffman_only: 2, rle: 3 } as const

/** EMQX's (cowboy's) deflate_opts as the ws library's permessage-deflate options. */
function deflateOptions (opts: DeflateOpts): object {
  return {
    zlibDeflateOptions: {
      ...(opts.level ? { level: ZLIB_LEVELS[opts.level] } : {}),
      memLevel: opts.mem_level,
      strategy: ZLIB_STRATEGIES[opts.strategy],
    },
    serverNoContextTakeover: opts.server_context_takeover === 'no_takeover',
    clientNoContextTakeover: opts.client_context_takeover === 'no_takeover',
    serverMaxWindowBits: opts.server_max_window_bits,
    clientMaxWindowBits: opts.client_max_window_bits,
  }
}

/** `buf` cut at MQTT packet boundaries (views, no copy); a partial tail is one more piece. */
export function splitPackets (buf: Buffer): Buffer[] {
  const parts: Buffer[] = []
  let at = 0
  while (at < buf.length) {
    let length = 0
    let multiplier = 1
    let i = at + 1
    for (; i < buf.length && i < at + 5; i++) {
      length += (buf[i]! & 0x7f) * multiplier
      multiplier *= 128
      if ((buf[i]! & 0x80) === 0) break
    }
    const end = i + 1 + length
    if (i >= buf.length || end > buf.length) { parts.push(buf.subarray(at)); break }
    parts.push(buf.subarray(at, end))
    at = end
  }
  return parts
}

/**
 * websocket.mqtt_piggyback = single: each MQTT packet in a WebSocket message of its own. The connection
 * writes whole packets, several per write when they leave together; the stream's write sends them apart.
 */
function sendPacketsApart (stream: Duplex, socket: WebSocket): void {
  const write = stream._write.bind(stream)
  stream._write = (chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void) => {
    const parts = splitPackets(chunk)
    if (parts.length <= 1) { write(chunk, encoding, callback); return }
    for (let i = 0; i < parts.length - 1; i++) socket.send(parts[i]!)
    write(parts[parts.length - 1]!, encoding, callback)
  }
}
