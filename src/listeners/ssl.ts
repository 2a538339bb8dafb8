// MQTT over TLS (EMQX `listeners.ssl`).
import type { Server } from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { SslListenerConfig } from '../config/schema.js'
import type { Core } from '../mqtt/core.js'
import { NetListener, createTcpServer } from './listener.js'
import type { CertStore } from '../certs/store.js'
import type { PskTable } from './psk.js'
import type { ManagedCerts } from './sni.js'
import { TlsFront } from './tls-front.js'

export class SslListener extends NetListener<SslListenerConfig> {
  readonly type = 'ssl'
  #front: TlsFront | null = null
  readonly #store: CertStore | undefined
  #managed: ManagedCerts | undefined

  readonly #psk: PskTable | undefined

  constructor (core: Core, name: string, config: SslListenerConfig, store?: CertStore, psk?: PskTable) {
    super(core, 'ssl', name, config)
    this.#store = store
    this.#psk = psk
  }

  protected override async prepare (): Promise<void> {
    this.#managed = await TlsFront.managed(this.config.ssl_options, this.id, this.#store)
  }

  protected createServer (): Server {
    const options = TlsFront.options(this.config.ssl_options, this.id, this.#managed)
    if (this.#psk) options.pskCallback = this.#psk.callback
    const inner = createTlsServer(options)
    const front = new TlsFront(this.core, this.id, this.config.ssl_options, inner, options, this.#managed)
    inner.on('secureConnection', (socket: TLSSocket) => {
      const tls = front.verified(socket)
      if (!tls) return
      const pskIdentity = this.#psk?.identityOf(socket)
      if (pskIdentity !== undefined) tls.pskIdentity = pskIdentity
      this.gate.admit(socket, { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, transport: 'ssl', tls })
    })
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
