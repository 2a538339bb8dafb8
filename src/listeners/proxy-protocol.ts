// proxy_protocol = true on a listener: every connection must start with a PROXY protocol header (v1 or v2),
// read before TLS or HTTP see a byte; the client's address, port and (v2 PP2_TYPE_SSL) TLS facts it gives
// are then the connection's. A connection without a valid header within proxy_protocol_timeout is closed,
// logged with the reason and counted. A listener without proxy_protocol never reads one.
import type { Server, Socket } from 'node:net'
import { onReads, passOn } from '../mqtt/socket-reads.js'
import type { PeerCertificate, TlsInfo } from '../mqtt/tls-info.js'
import type { AccessRules } from './access-rules.js'
import type { ListenerCore } from './listener-core.js'
import { acceptedSocket } from './node-internals.js'
import { parseProxyHeader, PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS, PP2_CLIENT_SSL, type ProxyFailure, type ProxyHeader } from './proxy-header.js'

/** What a PROXY header said of a connection. */
export interface ProxiedPeer {
  address: string
  port: number
  /** The port the client reached at the proxy. */
  localPort: number
  /** The client's TLS as the proxy terminated it (v2 PP2_TYPE_SSL with PP2_CLIENT_SSL), else undefined. */
  tls: TlsInfo | undefined
}

export type ProxyReadFailure = ProxyFailure | 'timeout' | 'closed'

const peers = new WeakMap<Socket, ProxiedPeer>()

/** The PROXY header's facts for a connection (its raw socket, or a TLS socket over it); undefined when it had none. */
export function proxiedPeer (socket: Socket): ProxiedPeer | undefined {
  return peers.get(acceptedSocket(socket))
}

/** The client's address and port: the PROXY header's when there was one, else the socket's. */
export function peerOf (socket: Socket): { address: string, port: number } {
  return proxiedPeer(socket) ?? socketPeer(socket)
}

/**
 * The address and port the connection came from, as accept() saw them. Asked of the raw socket under a
 * TLSSocket: it already knows them (the TLS front asks once, for its failure log), where the TLSSocket would
 * ask the kernel again.
 */
export function socketPeer (socket: Socket): { address: string, port: number } {
  const raw = acceptedSocket(socket)
  return { address: raw.remoteAddress ?? '', port: raw.remotePort ?? 0 }
}

const EMPTY = Buffer.alloc(0)

/**
 * The certificate a proxy verified, as far as its header tells: the subject's common name only. certIdentity
 * gives nothing but `cn` for it, and the API shows no subject.
 */
function proxiedCertificate (cn: string): PeerCertificate {
  return { subject: '', cn, issuer: '', serial: '', fingerprint: '', pem: '', der: EMPTY, notAfter: '', proxied: true }
}

/**
 * TLS facts from PP2_TYPE_SSL. A certificate counts only when the proxy says the client presented one
 * (PP2_CLIENT_CERT_CONN or _SESS) and verified it (verify = 0). certRequested: Culex cannot tell whether the
 * proxy asked for one, so a client without one is not allowed to name itself under peer_cert_as_username.
 */
export function proxiedTls (header: ProxyHeader): TlsInfo | undefined {
  const t = header.tls
  if (!t || (t.client & PP2_CLIENT_SSL) === 0) return undefined
  const presented = (t.client & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS)) !== 0
  return {
    version: t.version ?? '',
    cipher: t.cipher ?? '',
    sni: header.authority ?? '',
    peerCert: presented && t.verify === 0 ? proxiedCertificate(t.cn ?? '') : undefined,
    certRequested: true,
    proxied: true,
  }
}

export class ProxyProtocolReader {
  readonly #core: Pick<ListenerCore, 'log' | 'metrics'>
  readonly #id: string
  readonly #timeoutMs: number
  readonly #access: AccessRules | null
  readonly #sharedReads: boolean
  #handlers: ((socket: Socket) => void)[] = []
  #server: Server | null = null

  /**
   * `access`: the listener's access_rules, checked against the client's address from the header.
   * `sharedReads`: what follows the header is MQTT read by a Connection (a tcp listener), which reads through
   * the shared read buffer (mqtt/socket-reads.ts): the header is read that way too. Otherwise (TLS, HTTP)
   * through the socket's stream, which they need.
   */
  constructor (core: Pick<ListenerCore, 'log' | 'metrics'>, listenerId: string, timeoutMs: number, access: AccessRules | null, sharedReads = false) {
    this.#core = core
    this.#id = listenerId
    this.#timeoutMs = timeoutMs
    this.#access = access
    this.#sharedReads = sharedReads
  }

  /** Puts the reader in front of the server's 'connection' listeners (the net, TLS-front or HTTP handler). */
  install (server: Server): void {
    this.#handlers = server.listeners('connection') as ((socket: Socket) => void)[]
    this.#server = server
    server.removeAllListeners('connection')
    server.on('connection', (socket: Socket) => new HeaderRead(this, socket, this.#timeoutMs, this.#sharedReads))
  }

  /** @internal a connection's header was read whole */
  headerRead (read: HeaderRead, header: ProxyHeader, rest: Buffer): void {
    const socket = read.socket
    if (read.shared) {
      // The handler's Connection takes the reads over (onReads again); the bytes after the header go to it first.
      this.#accepted(socket, header)
      if (rest.length > 0 && !socket.destroyed) passOn(socket, rest)
      return
    }
    socket.pause()
    if (rest.length > 0) socket.unshift(rest)
    this.#accepted(socket, header)
    // The handler's own reader (MQTT, the TLS front, HTTP) takes what follows the header.
    socket.resume()
  }

  #accepted (socket: Socket, header: ProxyHeader): void {
    const source = header.local ? undefined : header.source
    const address = source?.address ?? socket.remoteAddress ?? ''
    const refusedBy = this.#access?.refuses(address)
    if (refusedBy) {
      this.#core.metrics.connectionsRefused++
      const peer = `${address}:${source?.port ?? socket.remotePort ?? 0}`
      this.#core.log.info({ listener: this.#id, peer, proxy: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, rule: refusedBy.text },
        `connection refused by access_rules: ${peer} (from its PROXY protocol header) matches "${refusedBy.text}"`)
      socket.destroy()
      return
    }
    const tls = proxiedTls(header)
    if (source) peers.set(socket, { address: source.address, port: source.port, localPort: header.destination!.port, tls })
    else if (tls) peers.set(socket, { address, port: socket.remotePort ?? 0, localPort: socket.localPort ?? 0, tls })
    const t = header.tls
    if (t && tls && !tls.peerCert && (t.client & (PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS)) !== 0) {
      this.#core.log.info({ listener: this.#id, peer: `${address}:${source?.port ?? socket.remotePort ?? 0}`, verify: t.verify },
        'the proxy passed a client certificate it did not verify (PP2_TYPE_SSL verify != 0): the connection goes on as one without a certificate')
    }
    for (const handler of this.#handlers) handler.call(this.#server, socket)
  }

  /** @internal a connection closed, failed, or sent no valid header in time */
  failed (socket: Socket, reason: ProxyReadFailure, detail: string): void {
    const metrics = this.#core.metrics
    const mine = metrics.proxyProtocolFailures[this.#id] ??= {}
    mine[reason] = (mine[reason] ?? 0) + 1
    const details = { listener: this.#id, peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, reason }
    // A proxy's health check may connect and close without a header (HAProxy's check without check-send-proxy).
    if (reason === 'closed') this.#core.log.info(details, `PROXY protocol: ${detail}`)
    else this.#core.log.warning(details, `connection closed: ${detail} (proxy_protocol = true: it must come from a proxy that sends the header)`)
    socket.destroy()
  }
}

const kHeaderRead = Symbol('culex.proxyHeaderRead')
type Reading = Socket & { [kHeaderRead]: HeaderRead }

// The listeners are the same functions for every connection; they find its read on the socket.
function onHeaderData (this: Socket, chunk: Buffer): void { (this as Reading)[kHeaderRead].chunkRead(chunk) }
function onHeaderClose (this: Socket): void { (this as Reading)[kHeaderRead].fail('closed', 'the connection closed before a complete PROXY protocol header') }
function onHeaderError (this: Socket, err: Error): void {
  ;(this as Reading)[kHeaderRead].fail('closed', `the connection failed before a complete PROXY protocol header: ${err.message}`)
}
function onHeaderTimeout (read: HeaderRead, timeoutMs: number): void {
  read.fail('timeout', `no complete PROXY protocol header within proxy_protocol_timeout (${timeoutMs} ms)`)
}

/** One connection's header, while it is read: an object with methods rather than a closure per step, as a storm of proxied connections makes one each. */
class HeaderRead {
  readonly reader: ProxyProtocolReader
  readonly socket: Socket
  /** Reads through the shared read buffer (see ProxyProtocolReader's sharedReads), else through 'data'. */
  readonly shared: boolean
  #buffered: Buffer = EMPTY
  #done = false
  readonly #timer: NodeJS.Timeout

  constructor (reader: ProxyProtocolReader, socket: Socket, timeoutMs: number, sharedReads: boolean) {
    this.reader = reader
    this.socket = socket
    ;(socket as Reading)[kHeaderRead] = this
    this.#timer = setTimeout(onHeaderTimeout, timeoutMs, this, timeoutMs)
    this.shared = sharedReads && onReads(socket, this)
    if (!this.shared) socket.on('data', onHeaderData)
    socket.once('close', onHeaderClose)
    socket.on('error', onHeaderError)
  }

  chunkRead (chunk: Buffer): void {
    if (this.#done) return
    const buffered = this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk])
    const result = parseProxyHeader(buffered)
    if (result.state === 'incomplete') return
    if (result.state === 'failed') return this.fail(result.reason, result.detail)
    this.#finish()
    this.reader.headerRead(this, result.header, result.length < buffered.length ? buffered.subarray(result.length) : EMPTY)
  }

  fail (reason: ProxyReadFailure, detail: string): void {
    if (this.#done) return
    this.#finish()
    this.reader.failed(this.socket, reason, detail)
  }

  #finish (): void {
    this.#done = true
    this.#buffered = EMPTY
    clearTimeout(this.#timer)
    const socket = this.socket
    if (!this.shared) socket.off('data', onHeaderData)
    socket.off('close', onHeaderClose)
    socket.off('error', onHeaderError)
  }
}
