// The TLS side shared by ssl and wss listeners: a tls.Server (or https.Server) doing the handshake, the
// verify policy of seed 003's table applied after it, one log line and one counter per failed handshake,
// and hot reload of the files.
import { watch, type FSWatcher } from 'node:fs'
import { dirname, basename } from 'node:path'
import type { Socket } from 'node:net'
import type { Server as TlsServer, TlsOptions, TLSSocket } from 'node:tls'
import type { SslListenerOptions, SslOptions } from '../config/schema.js'
import type { PeerCertificate, TlsInfo } from '../mqtt/tls-info.js'
import type { BundleRef, CertStore } from '../certs/store.js'
import { CulexError } from '../errors.js'
import { RC } from '../mqtt/reason-codes.js'
import { rawBytesRead, setSecureContextWithPartialChain } from './node-internals.js'
import { CertExpiry, type ServedChain } from './cert-expiry.js'
import { peerOf } from './proxy-protocol.js'
import { ManagedCerts } from './sni.js'
import { readTlsFiles, tlsFilePaths, tlsServerOptions, trustsClientCa } from './tls-context.js'
import { describeHandshakeError, describeNotTls, describeVerifyError, NO_CLIENT_CA, type TlsFailureReport } from './tls-errors.js'
import type { ListenerCore } from './listener-core.js'

const EKU_OIDS: Record<string, string> = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
}

/**
 * A check of a verified client certificate after seed 003's verify policy (CRL distribution points, the
 * device registry): a report refuses the client with that reason, null admits it. `trustedCa` gives the
 * PEM of the CAs the handshake trusted (cacertfile, the bundle's ca.pem, the registry's CAs).
 */
export type PeerCheck = (cert: PeerCertificate, socket: TLSSocket, trustedCa: () => string) => TlsFailureReport | null | Promise<TlsFailureReport | null>

/** Builds a listener's check from its ssl_options, or returns undefined when the listener does not use it. */
export type PeerCheckFactory = (listenerId: string, opts: SslListenerOptions) => PeerCheck | undefined

// Resumable sessions kept for session-id resumption (tickets need no server state).
const SESSION_CACHE_LIMIT = 10_000

export class TlsFront {
  readonly #core: ListenerCore
  readonly #id: string
  readonly #opts: SslOptions
  readonly #server: TlsServer
  readonly #sessions = new Map<string, Buffer>()
  #watchers: FSWatcher[] = []
  #reloadTimer: NodeJS.Timeout | null = null

  readonly #managed: ManagedCerts | undefined
  #storeListeners: (() => void) | null = null
  readonly #checks: PeerCheck[] = []
  readonly #extraCa: (() => string[]) | undefined
  /** The file-based options in force (managed bundles: per bundle). */
  #installed: TlsOptions | undefined
  /** The alarm for served certificates about to expire. */
  readonly #expiry: CertExpiry

  /**
   * The listener's TLS options: from its files, or from its managed bundles (with SNI selection).
   * `extraCa` (PEM, the device registry's CAs) are trusted at the TLS level beside cacertfile, which is then
   * optional; the registry's peer check then admits only certificates of registered CAs.
   */
  static options (opts: SslOptions, listenerId: string, managed?: ManagedCerts, extraCa?: string[]): TlsOptions {
    if (managed) return managed.serverOptions()
    const files = readTlsFiles(opts, listenerId, extraCa !== undefined)
    if (extraCa && extraCa.length > 0) files.ca = Buffer.from([files.ca?.toString() ?? '', ...extraCa].join('\n'))
    return tlsServerOptions(opts, files, listenerId)
  }

  /** Loads the managed bundles a listener names, or returns undefined when it uses certfile/keyfile. */
  static async managed (opts: SslOptions, listenerId: string, store: CertStore | undefined): Promise<ManagedCerts | undefined> {
    if (opts.managed_certs.length === 0) return undefined
    if (!store) throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${listenerId}: ssl_options.managed_certs needs the certificate store`)
    const managed = new ManagedCerts(store, opts, listenerId)
    await managed.load()
    return managed
  }

  /** `options` are the ones `server` was created with; `extraCa` gives the CAs trusted besides cacertfile at each reload. */
  constructor (core: ListenerCore, listenerId: string, opts: SslOptions, server: TlsServer, options: TlsOptions, managed?: ManagedCerts, extraCa?: () => string[]) {
    this.#core = core
    this.#extraCa = extraCa
    this.#id = listenerId
    this.#opts = opts
    this.#server = server
    this.#managed = managed
    // The server was made with these options; only a partial chain needs them installed again (see #install).
    this.#installed = options
    this.#expiry = new CertExpiry(core.alarms, listenerId)
    if (options.allowPartialTrustChain) this.#install(options)
    else this.#expiry.update(this.served())
    this.#warnIfNoClientCa('start')
    // Node leaves the socket open after some of these errors (ERR_TLS_HANDSHAKE_TIMEOUT): close it here.
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.#refuse(socket, describeHandshakeError(err, rawBytesRead(socket))))
    if (opts.reuse_sessions && !opts.versions.includes('tlsv1.3')) {
      // Session ids only where TLS 1.3 is off (clients of TLS 1.2 and older; tickets, which need no server
      // state, resume every version). With these callbacks Node parses every ClientHello in JavaScript and
      // hands each TLS 1.3 ticket's session to it: about 4% of the CPU per handshake and a third of the
      // memory per idle connection that Culex adds to Node's own TLS (BENCHMARKS.md).
      server.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
        if (this.#sessions.size >= SESSION_CACHE_LIMIT) this.#sessions.delete(this.#sessions.keys().next().value!)
        this.#sessions.set(id.toString('hex'), data)
        done()
      })
      server.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
        done(null, this.#sessions.get(id.toString('hex')) ?? null)
      })
    }
  }

  /**
   * The TLS server itself listens: its handshake starts on the connection's first bytes, with no JavaScript
   * read before it (a first-byte check in front cost about 5% of the CPU per handshake). OpenSSL's verdict on
   * a first record that is not TLS, and Node's handshakeTimeout, give the failures their reasons.
   */
  listening (): TlsServer {
    this.#server.prependListener('connection', (socket: Socket) => this.#remember(socket))
    return this.#server
  }

  /**
   * Behind proxy_protocol: the raw connection once its PROXY header is read, handed to the TLS server when its
   * next bytes start a TLS handshake (the TLS server must not see the connection before they arrive).
   */
  accept (socket: Socket): void {
    this.#remember(socket)
    socket.on('error', destroySocket)
    const timer = setTimeout(() => {
      this.#failed(socket, { reason: 'handshake_timeout', detail: 'the client sent nothing within ssl_options.handshake_timeout' })
      socket.destroy()
    }, this.#opts.handshake_timeout)
    const cancel = (): void => clearTimeout(timer)
    socket.once('close', cancel)
    socket.once('data', (chunk: Buffer) => {
      // Nothing of this first read stays referenced from the socket for the life of the connection.
      cancel()
      socket.removeListener('close', cancel)
      socket.pause()
      if (chunk[0] !== 0x16) {
        this.#failed(socket, describeNotTls(chunk[0]!))
        socket.destroy()
        return
      }
      socket.unshift(chunk)
      this.#server.emit('connection', socket)
    })
  }

  /**
   * Asks the raw socket its peer address while it has one: net.Socket keeps the answer, and a socket reset
   * mid-handshake, which has lost its handle, still gives it to the failure log.
   */
  #remember (socket: Socket): void {
    peerOf(socket)
  }

  addPeerCheck (check: PeerCheck): void {
    this.#checks.push(check)
  }

  /**
   * verified(), then the peer checks in order: `admit` gets the TLS facts of an accepted client; a refused
   * one is closed, logged and counted. A check that throws refuses the client rather than let it in unchecked.
   */
  accepted (socket: TLSSocket, admit: (tls: TlsInfo) => void): void {
    const tls = this.verified(socket)
    if (!tls) return
    const cert = tls.peerCert
    if (!cert || this.#checks.length === 0) {
      admit(tls)
      return
    }
    this.#runChecks(cert, socket).then((report) => {
      if (report) this.#refuse(socket, report)
      else if (!socket.destroyed) admit(tls)
    }, (err: unknown) => this.#refuse(socket, { reason: 'other', detail: `client certificate check failed: ${(err as Error).message}` }))
  }

  async #runChecks (cert: PeerCertificate, socket: TLSSocket): Promise<TlsFailureReport | null> {
    const options = this.#optionsOf(socket)
    const trustedCa = () => caPem(options)
    for (const check of this.#checks) {
      const report = await check(cert, socket, trustedCa)
      if (report) return report
    }
    return null
  }

  /**
   * Applies the verify policy once the handshake is done; returns the TLS facts for an accepted client,
   * or null after closing a refused one. verify_peer + fail_if_no_peer_cert = false allows no certificate
   * but never an invalid one.
   */
  verified (socket: TLSSocket): TlsInfo | null {
    const opts = this.#opts
    let peerCert: PeerCertificate | undefined
    if (opts.verify === 'verify_peer') {
      // First: once getPeerX509Certificate() has run, Node leaves the issuer chain out of getPeerCertificate(true).
      const depth = chainDepth(socket)
      const x509 = socket.getPeerX509Certificate()
      if (!x509) {
        if (opts.fail_if_no_peer_cert) return this.#refuse(socket, { reason: 'no_peer_cert', detail: 'the client sent no certificate; ssl_options.fail_if_no_peer_cert = true requires one' })
      } else {
        if (!socket.authorized) return this.#refuse(socket, this.#trustsClientCa(socket) ? describeVerifyError(String(socket.authorizationError)) : NO_CLIENT_CA)
        if (depth > opts.depth) return this.#refuse(socket, { reason: 'chain_too_deep', detail: `the client certificate chain has ${depth} intermediate CAs; ssl_options.depth allows ${opts.depth}` })
        const eku = opts.verify_peer_ext_key_usage
        if (eku) {
          const wanted = EKU_OIDS[eku] ?? eku
          const usages = (socket.getPeerCertificate() as { ext_key_usage?: string[] }).ext_key_usage ?? []
          if (!usages.includes(wanted)) return this.#refuse(socket, { reason: 'bad_key_usage', detail: `the client certificate lacks Extended Key Usage ${eku} (ssl_options.verify_peer_ext_key_usage)` })
        }
        peerCert = {
          subject: x509.subject.split('\n').join(','),
          cn: /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1] ?? '',
          issuer: x509.issuer.split('\n').join(','),
          serial: x509.serialNumber.toUpperCase(),
          fingerprint: x509.fingerprint256,
          pem: x509.toString(),
          der: x509.raw,
          notAfter: x509.validTo,
        }
      }
    }
    const metrics = this.#core.metrics
    metrics.tlsHandshakes++
    metrics.tlsHandshakesByListener[this.#id] = (metrics.tlsHandshakesByListener[this.#id] ?? 0) + 1
    const cipher = socket.getCipher()
    const sni = sniOf(socket)
    const bundle = this.#managed?.select(sni)?.label
    return { version: socket.getProtocol() ?? '', cipher: cipher?.name ?? '', sni, peerCert, certRequested: opts.verify === 'verify_peer', ...(bundle ? { bundle } : {}) }
  }

  /** Re-reads the files; new handshakes use them, current connections keep theirs. A bad file keeps the old. */
  reload (why: string): boolean {
    if (this.#managed) {
      void this.#refreshManaged(why)
      return true
    }
    try {
      this.#install(TlsFront.options(this.#opts, this.#id, undefined, this.#extraCa?.()))
      this.#core.log.notice({ listener: this.#id, trigger: why }, 'TLS certificate, key and CA files reloaded')
      this.#warnIfNoClientCa(why)
      return true
    } catch (err) {
      this.#core.log.error({ listener: this.#id, trigger: why }, `TLS files not reloaded, the previous ones stay in force: ${(err as Error).message}`)
      return false
    }
  }

  /** Whether the context of this handshake (its managed bundle, else the files) trusts any client CA. */
  #trustsClientCa (socket: TLSSocket): boolean {
    const options = this.#optionsOf(socket)
    return options !== undefined && trustsClientCa(options)
  }

  /** The options of this handshake's context: its managed bundle's, else those last installed. */
  #optionsOf (socket: TLSSocket): TlsOptions | undefined {
    return this.#managed ? this.#managed.select(sniOf(socket))?.options : this.#installed
  }

  /** verify_peer without any client CA refuses every certificate: say so when it starts or reloads that way. */
  #warnIfNoClientCa (why: string): void {
    if (this.#opts.verify !== 'verify_peer') return
    const trusted = this.#installed !== undefined && trustsClientCa(this.#installed)
    const without = this.#managed ? this.#managed.bundlesWithoutCa() : (trusted ? [] : ['ssl_options.cacertfile'])
    if (without.length === 0) return
    this.#core.log.warning({ listener: this.#id, trigger: why, without },
      'verify_peer with no CA for client certificates: every client certificate is refused (the system\'s public roots are never trusted for clients); configure ssl_options.cacertfile, the bundle\'s ca.pem or the device registry\'s CAs')
  }

  #install (options: TlsOptions): void {
    setSecureContextWithPartialChain(this.#server, options)
    this.#installed = options
    this.#expiry.update(this.served())
  }

  /** The certificate chains handshakes get: each loaded managed bundle's, else certfile's. */
  served (): ServedChain[] {
    if (this.#managed) return this.#managed.served()
    const cert = this.#installed?.cert
    return cert === undefined ? [] : [{ bundle: undefined, source: this.#opts.certfile, pem: Array.isArray(cert) ? cert.join('\n') : cert }]
  }

  /** Managed bundles: rebuilt when the store changes them, and their clients dropped when they are deleted. */
  #watchStore (managed: ManagedCerts): void {
    const onChange = (ref: BundleRef) => {
      if (!managed.uses(ref)) return
      managed.refresh(ref).then(() => this.#installManaged(`bundle ${ref.namespace ?? 'global'}/${ref.name} changed`), (err: unknown) => {
        this.#core.log.error({ listener: this.#id }, `managed certificate bundle not reloaded, the previous one stays in force: ${(err as Error).message}`)
      })
    }
    const onDelete = (ref: BundleRef) => {
      if (!managed.uses(ref)) return
      const label = `${ref.namespace ?? 'global'}/${ref.name}`
      managed.remove(ref)
      this.#installManaged(`bundle ${label} deleted`)
      this.#dropClientsOf(label)
    }
    managed.store.on('change', onChange)
    managed.store.on('delete', onDelete)
    this.#storeListeners = () => {
      managed.store.off('change', onChange)
      managed.store.off('delete', onDelete)
    }
  }

  async #refreshManaged (why: string): Promise<void> {
    const managed = this.#managed!
    for (const entry of this.#opts.managed_certs) {
      try {
        await managed.refresh({ namespace: entry.namespace, name: entry.bundle_name })
      } catch (err) {
        this.#core.log.error({ listener: this.#id, trigger: why }, `managed certificate bundle not reloaded, the previous one stays in force: ${(err as Error).message}`)
      }
    }
    this.#installManaged(why)
  }

  #installManaged (why: string): void {
    try {
      this.#install(this.#managed!.serverOptions())
      this.#core.log.notice({ listener: this.#id, trigger: why }, 'managed certificates reloaded')
      this.#warnIfNoClientCa(why)
    } catch (err) {
      this.#core.log.error({ listener: this.#id, trigger: why }, (err as Error).message)
    }
  }

  /** Seed 000: deleting a certificate disconnects the clients that connected with it. */
  #dropClientsOf (label: string): void {
    let dropped = 0
    for (const conn of [...this.#core.connections]) {
      if (conn.listener.id !== this.#id || conn.transport.tls?.bundle !== label) continue
      conn.disconnect(RC.ADMINISTRATIVE_ACTION, `certificate bundle ${label} was deleted`)
      dropped++
    }
    this.#core.log.notice({ listener: this.#id, bundle: label, dropped }, 'clients of a deleted certificate bundle disconnected')
  }

  /** Watches the directories of certfile, keyfile and cacertfile (files are often replaced, not rewritten). */
  watch (): void {
    if (this.#managed) {
      this.#watchStore(this.#managed)
      return
    }
    const files = new Set(tlsFilePaths(this.#opts))
    const dirs = new Set([...files].map((f) => dirname(f)))
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, (_event, name) => {
          if (name && files.has(`${dir}/${basename(String(name))}`)) this.#scheduleReload()
        })
        watcher.on('error', (err) => {
          this.#core.log.warning({ listener: this.#id, dir }, `stopped watching TLS files for changes (use SIGHUP): ${err.message}`)
          watcher.close()
        })
        watcher.unref()
        this.#watchers.push(watcher)
      } catch (err) {
        this.#core.log.warning({ listener: this.#id, dir }, `cannot watch TLS files for changes (use SIGHUP): ${(err as Error).message}`)
      }
    }
  }

  close (): void {
    this.#expiry.close()
    this.#storeListeners?.()
    this.#storeListeners = null
    for (const w of this.#watchers) w.close()
    this.#watchers = []
    if (this.#reloadTimer) clearTimeout(this.#reloadTimer)
  }

  // Editors and `cp` write a file in several steps: wait for the writes to settle.
  #scheduleReload (): void {
    if (this.#reloadTimer) clearTimeout(this.#reloadTimer)
    this.#reloadTimer = setTimeout(() => { this.#reloadTimer = null; this.reload('file change') }, 200)
    this.#reloadTimer.unref()
  }

  #refuse (socket: TLSSocket, report: TlsFailureReport): null {
    this.#failed(socket, report)
    socket.destroy()
    return null
  }

  #failed (socket: Socket, report: TlsFailureReport): void {
    const metrics = this.#core.metrics
    metrics.tlsFailures[report.reason] = (metrics.tlsFailures[report.reason] ?? 0) + 1
    const mine = metrics.tlsFailuresByListener[this.#id] ??= {}
    mine[report.reason] = (mine[report.reason] ?? 0) + 1
    const peer = peerOf(socket)
    this.#core.log.warning({
      listener: this.#id,
      peer: peer.address === '' ? '?' : `${peer.address}:${peer.port}`,
      sni: sniOf(socket),
      reason: report.reason,
    }, `TLS handshake failed: ${report.detail}`)
  }
}

/** The server name the client asked for (SNI), '' when none or not a TLS socket. */
function sniOf (socket: Socket): string {
  const servername = (socket as Socket & { servername?: string | false }).servername
  return typeof servername === 'string' ? servername : ''
}

/** The CA certificates of TLS options, as one PEM text. */
function caPem (options: TlsOptions | undefined): string {
  const ca = options?.ca
  if (ca === undefined) return ''
  return (Array.isArray(ca) ? ca : [ca]).map((c) => c.toString()).join('\n')
}

/** Intermediate CAs between the client certificate and its trust anchor. */
function chainDepth (socket: TLSSocket): number {
  let cert = socket.getPeerCertificate(true) as { issuerCertificate?: unknown, fingerprint256?: string }
  let depth = 0
  const seen = new Set<string>()
  while (cert.issuerCertificate && cert.issuerCertificate !== cert) {
    const next = cert.issuerCertificate as typeof cert
    if (!next.fingerprint256 || seen.has(next.fingerprint256)) break
    seen.add(next.fingerprint256)
    cert = next
    depth++
  }
  // The anchor itself is not an intermediate.
  return Math.max(0, depth - 1)
}

function destroySocket (this: Socket): void {
  this.destroy()
}
