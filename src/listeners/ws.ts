// MQTT over WebSocket: an HTTP server upgrading requests on websocket.mqtt_path.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws'
import type { WsListenerConfig } from '../config/schema.js'
import type { Core } from '../mqtt/core.js'
import { ConnectionGate, type Listener } from './listener.js'
import { close, listen } from './net-util.js'

export class WsListener implements Listener {
  readonly type = 'ws'
  readonly name: string
  readonly id: string
  readonly mountpoint: string
  readonly enabled: boolean
  readonly #core: Core
  readonly #config: WsListenerConfig
  readonly #gate: ConnectionGate
  #server: Server | null = null
  #wss: WebSocketServer | null = null

  constructor (core: Core, name: string, config: WsListenerConfig) {
    this.name = name
    this.id = `ws:${name}`
    this.mountpoint = config.mountpoint
    this.enabled = config.enable
    this.#core = core
    this.#config = config
    this.#gate = new ConnectionGate(core, this, config.max_connections)
  }

  get running (): boolean { return this.#server?.listening ?? false }
  get connectionCount (): number { return this.#gate.size }

  address () {
    const a = this.#server?.address()
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null
  }

  async start (): Promise<void> {
    const server = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket: upgrade at ${this.#config.websocket.mqtt_path}\n`)
    })
    const ws = this.#config.websocket
    const supported = new Set(ws.supported_subprotocols)
    const wss = new WebSocketServer({
      server,
      path: ws.mqtt_path,
      maxPayload: this.#core.config.mqtt.max_packet_size + 8,
      perMessageDeflate: false,
      handleProtocols: (offered: Set<string>) => [...offered].find((p) => supported.has(p)) ?? false,
      verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
        const offered = (info.req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean)
        if (offered.length === 0 && ws.fail_if_no_subprotocol) return done(false, 400, 'a WebSocket subprotocol (mqtt) is required')
        if (offered.length > 0 && !offered.some((p) => supported.has(p))) return done(false, 400, `unsupported subprotocol ${offered.join(',')}`)
        done(true)
      },
    })
    wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
      req.socket.setNoDelay(this.#config.tcp_options.nodelay)
      const stream = createWebSocketStream(socket)
      stream.on('error', (err: Error & { code?: string }) => {
        // ws buffers a whole frame before we see it, so an oversize MQTT packet in one frame is refused here.
        const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? `WebSocket message larger than mqtt.max_packet_size (${this.#core.config.mqtt.max_packet_size} bytes)`
          : err.message
        this.#core.log.warning({ listener: this.id, peer: `${req.socket.remoteAddress}:${req.socket.remotePort}` }, `closing WebSocket connection: ${reason}`)
        stream.destroy()
      })
      this.#gate.admit(stream, { remoteAddress: req.socket.remoteAddress ?? '', remotePort: req.socket.remotePort ?? 0, transport: 'ws' })
    })
    await listen(server, this.#config.bind, this.#config.tcp_options.backlog, this.id)
    this.#server = server
    this.#wss = wss
  }

  async stop (graceMs = 0): Promise<void> {
    const server = this.#server
    this.#server = null
    const closed = server ? close(server) : Promise.resolve()
    await this.#gate.drain(graceMs)
    for (const client of this.#wss?.clients ?? []) client.terminate()
    this.#wss?.close()
    this.#wss = null
    server?.closeAllConnections()
    await closed
  }
}
