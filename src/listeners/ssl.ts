// MQTT over TLS (EMQX `listeners.ssl`).
import type { Server } from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { SslListenerConfig } from '../config/schema.js'
import { NetListener, createTcpServer, socketTransport, tcpServerOptions } from './listener.js'
import type { ListenerCore } from './listener-core.js'
import type { TlsServices } from './tls-services.js'
import { checkRegistryOptions, linkRegistry } from './registry-link.js'
import type { OcspStapler } from './ocsp.js'
import type { ManagedCerts } from './sni.js'
import type { TlsFront } from './tls-front.js'
import type { ServedChain } from './cert-expiry.js'

export class SslListener extends NetListener<SslListenerConfig> {
  readonly type = 'ssl'
  #front: TlsFront | null = null
  /** The TLS front and its modules, loaded when the listener starts: a broker without TLS listeners never loads them. */
  #frontModule: typeof import('./tls-front.js') | null = null
  readonly #services: TlsServices
  #managed: ManagedCerts | undefined
  #ocsp: OcspStapler | undefined
  #unlinkRegistry: (() => void) | null = null

  constructor (core: ListenerCore, name: string, config: SslListenerConfig, services: TlsServices = {}) {
    super(core, 'ssl', name, config)
    this.#services = services
  }

  protected override async prepare (): Promise<void> {
    checkRegistryOptions(this.id, this.config.ssl_options, this.#services.registry)
    const { TlsFront } = this.#frontModule ??= await import('./tls-front.js')
    this.#managed = await TlsFront.managed(this.config.ssl_options, this.id, this.#services.certStore)
    // Loaded only when stapling is on: its ASN.1 modules cost start-up time.
    if (this.config.ssl_options.ocsp.enable_ocsp_stapling) {
      const { OcspStapler } = await import('./ocsp.js')
      this.#ocsp = OcspStapler.create(this.core.log, this.id, this.config.ssl_options)
    }
    await this.#ocsp?.start()
  }

  override async start (): Promise<void> {
    try {
      await super.start()
    } catch (err) {
      this.#ocsp?.close()
      throw err
    }
  }

  protected createServer (): Server {
    const registry = this.config.ssl_options.device_registry ? this.#services.registry : undefined
    const extraCa = registry ? () => registry.trustedPems() : undefined
    const { TlsFront } = this.#frontModule!
    const options = TlsFront.options(this.config.ssl_options, this.id, this.#managed, extraCa?.())
    const psk = this.#services.psk
    if (psk) options.pskCallback = psk.callback
    const inner = createTlsServer({ ...options, ...tcpServerOptions(this.config.tcp_options) })
    this.#ocsp?.attach(inner)
    const front = new TlsFront(this.core, this.id, this.config.ssl_options, inner, options, this.#managed, extraCa)
    if (registry) this.#unlinkRegistry = linkRegistry(this.core, this.id, front, registry)
    for (const factory of this.#services.peerChecks ?? []) {
      const check = factory(this.id, this.config.ssl_options)
      if (check) front.addPeerCheck(check)
    }
    inner.on('secureConnection', (socket: TLSSocket) => front.accepted(socket, (tls) => {
      const pskIdentity = psk?.identityOf(socket)
      if (pskIdentity !== undefined) tls.pskIdentity = pskIdentity
      this.gate.admit(socket, socketTransport(socket, 'ssl', this.port, tls))
    }))
    front.watch()
    this.#front = front
    // Behind a PROXY header the TLS server gets the connection once its header is read (TlsFront.accept).
    return this.config.proxy_protocol ? createTcpServer(this.config.tcp_options, (socket) => front.accept(socket)) : front.listening()
  }

  /** Re-reads certfile, keyfile and cacertfile (SIGHUP). */
  servedCertificates (): ServedChain[] {
    return this.#front?.served() ?? []
  }

  reloadTls (why: string): boolean {
    const reloaded = this.#front?.reload(why) ?? false
    if (reloaded) void this.#ocsp?.refresh()
    return reloaded
  }

  protected override afterDrain (): void {
    this.#unlinkRegistry?.()
    this.#unlinkRegistry = null
    this.#front?.close()
    this.#front = null
    this.#ocsp?.close()
    this.#ocsp = undefined
  }
}
