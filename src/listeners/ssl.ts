// MQTT over TLS (EMQX `listeners.ssl`).
import type { Server } from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { SslListenerConfig } from '../config/schema.js'
import type { Core } from '../mqtt/core.js'
import { NetListener, createTcpServer } from './listener.js'
import type { TlsServices } from './index.js'
import type { ManagedCerts } from './sni.js'
import { TlsFront } from './tls-front.js'

export class SslListener extends NetListener<SslListenerConfig> {
  readonly type = 'ssl'
  #front: TlsFront | null = null
  readonly #services: TlsServices
  #managed: ManagedCerts | undefined

  constructor (core: Core, name: string, config: SslListenerConfig, services: TlsServices = {}) {
    super(core, 'ssl', name, config)
    this.#services = services
  }

  protected override async prepare (): Promise<void> {
    this.#managed = await TlsFront.managed(this.config.ssl_options, this.id, this.#services.certStore)
  }

  protected createServer (): Server {
    const options = TlsFront.options(this.config.ssl_options, this.id, this.#managed)
    const psk = this.#services.psk
    if (psk) options.pskCallback = psk.callback
    const inner = createTlsServer(options)
    const front = new TlsFront(this.core, this.id, this.config.ssl_options, inner, options, this.#managed)
    for (const factory of this.#services.peerChecks ?? []) {
      const check = factory(this.id, this.config.ssl_options)
      if (check) front.addPeerCheck(check)
    }
    inner.on('secureConnection', (socket: TLSSocket) => front.accepted(socket, (tls) => {
      const pskIdentity = psk?.identityOf(socket)
      if (pskIdentity !== undefined) tls.pskIdentity = pskIdentity
      this.gate.admit(socket, { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, transport: 'ssl', tls })
    }))
    front.watch()
    this.#front = front
    return createTcpServer(this.config.tcp_options, (socket) => front.accept(socket))
  }

  /** Re-reads certfile, keyfile and cacertfile (SIGHUP). */
  reloadTls (why: string): boolean {
    return this.#front?.reload(why) ?? false
  }

  protected override afterDrain (): void {
    this.#front?.close()
    this.#front = null
  }
}
