// MQTT over WebSocket: an HTTP server upgrading requests on websocket.mqtt_path.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Server as NetServer } from 'node:net'
import type { WebSocket, WebSocketServer } from 'ws'
import type { WsListenerConfig } from '../config/schema.js'
import type { TransportInfo } from '../mqtt/channel.js'
import { NetListener } from './listener.js'
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
    const { WebSocketServer, createWebSocketStream } = this.#lib!
    const wss = new WebSocketServer({
      server,
      maxPayload: this.core.config.mqtt.max_packet_size + 8,
      perMessageDeflate: false,
      handleProtocols: (offered: Set<string>) => [...offered].find((p) => supported.has(p)) ?? false,
      verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
        // The MQTT.js command line (and Mosquitto's clients) connect at "/": it is served as well as mqtt_path.
        const path = (info.req.url ?? '/').split('?')[0]
        if (path !== ws.mqtt_path && path !== '/') return done(false, 404, `MQTT over WebSocket is served at ${ws.mqtt_path}`)
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
      stream.on('error', (err: Error & { code?: string }) => {
        // ws buffers a whole frame before we see it, so an oversize MQTT packet in one frame is refused here.
        const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? `WebSocket message larger than mqtt.max_packet_size (${this.core.config.mqtt.max_packet_size} bytes)`
          : err.message
        this.core.log.warning({ listener: this.id, peer: `${peer.remoteAddress}:${peer.remotePort}` }, `closing WebSocket connection: ${reason}`)
        stream.destroy()
      })
      this.gate.admit(stream, peer)
    })
    return wss
  }

  protected transportInfo (req: IncomingMessage): TransportInfo {
    return { remoteAddress: req.socket.remoteAddress ?? '', remotePort: req.socket.remotePort ?? 0, localPort: req.socket.localPort ?? 0, transport: this.type }
  }

  protected override afterDrain (server: NetServer | null): void {
    for (const client of this.#wss?.clients ?? []) client.terminate()
    this.#wss?.close()
    this.#wss = null
    if (server && 'closeAllConnections' in server) (server as Server).closeAllConnections()
  }
}
