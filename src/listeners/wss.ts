// MQTT over WebSocket over TLS (EMQX `listeners.wss`): the ws listener on an https server behind TlsFront.
import type { Server as HttpServer, IncomingMessage } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { WssListenerConfig } from '../config/schema.js'
import type { TransportInfo } from '../mqtt/channel.js'
import type { TlsInfo } from '../mqtt/tls-info.js'
import type { CertStore } from '../certs/store.js'
import type { ManagedCerts } from './sni.js'
import type { TlsFront } from './tls-front.js'
import type { ServedChain } from './cert-expiry.js'
import { createTcpServer, tcpServerOptions } from './listener.js'
import type { ListenerCore } from './listener-core.js'
import { WsListener } from './ws.js'

export class WssListener extends WsListener<WssListenerConfig> {
  #front: TlsFront | null = null
  /** The TLS front and its modules, loaded when the listener starts (as for ssl listeners). */
  #frontModule: typeof import('./tls-front.js') | null = null
  readonly #store: CertStore | undefined
  #managed: ManagedCerts | undefined
  #inner: HttpServer | null = null
  readonly #tls = new WeakMap<object, TlsInfo>()

  constructor (core: ListenerCore, name: string, config: WssListenerConfig, store?: CertStore) {
    super(core, name, config, 'wss')
    this.#store = store
  }

  protected override async prepare (): Promise<void> {
    await super.prepare()
    const { TlsFront } = this.#frontModule ??= await import('./tls-front.js')
    this.#managed = await TlsFront.managed(this.config.ssl_options, this.id, this.#store)
  }

  protected override createServer (): Server {
    const { TlsFront } = this.#frontModule!
    const options = TlsFront.options(this.config.ssl_options, this.id, this.#managed)
    const inner = createHttpsServer({ ...options, ...tcpServerOptions(this.config.tcp_options) }, (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket: upgrade at ${this.config.websocket.mqtt_path}\n`)
    })
    const front = new TlsFront(this.core, this.id, this.config.ssl_options, inner, options, this.#managed)
    inner.on('secureConnection', (socket: TLSSocket) => {
      const tls = front.verified(socket)
      if (tls) this.#tls.set(socket, tls)
    })
    this.#inner = inner as unknown as HttpServer
    this.attachWebSocket(this.#inner)
    front.watch()
    this.#front = front
    // Behind a PROXY header the TLS server gets the connection once its header is read (TlsFront.accept).
    return this.config.proxy_protocol ? createTcpServer(this.config.tcp_options, (socket) => front.accept(socket)) : front.listening()
  }

  protected override transportInfo (req: IncomingMessage): TransportInfo {
    const info = super.transportInfo(req)
    // The PROXY header's TLS facts (the proxy terminated the client's TLS) win over this listener's handshake.
    return info.tls ? info : { ...info, tls: this.#tls.get(req.socket) }
  }

  servedCertificates (): ServedChain[] {
    return this.#front?.served() ?? []
  }

  reloadTls (why: string): boolean {
    return this.#front?.reload(why) ?? false
  }

  protected override afterDrain (server: Server | null): void {
    super.afterDrain(server)
    this.#inner?.closeAllConnections()
    this.#inner = null
    this.#front?.close()
    this.#front = null
  }
}
