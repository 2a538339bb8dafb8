// ssl_options.enable_crl_check (EMQX): the CRLs named in client certificates' CRL distribution points,
// fetched over HTTP, cached broker-wide by URL (crl_cache: LRU, refreshed on a timer) and checked after the
// handshake. As OTP's crl_check = peer (EMQX), a certificate whose revocation status cannot be determined is
// refused: one without a distribution point is checked against a cached CRL of its issuer, else refused
// (unless ssl_options.crlfile covered it in the handshake). A CRL is used only once its signature verifies
// with the certificate's issuer, found in the handshake's chain or among the listener's CAs; when the issuer
// cannot be found the client is refused, never admitted unchecked.
import { X509Certificate as NodeX509 } from 'node:crypto'
import { get as httpGet, type ClientRequest } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { x509 } from '../certs/x509.js'
import { certificateBlocks } from '../certs/pem.js'
import type { CrlCacheConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { PeerCertificate } from '../mqtt/tls-info.js'
import type { PeerCheck, PeerCheckFactory } from './tls-front.js'
import type { TlsFailureReport } from './tls-errors.js'

// A CRL larger than this is refused rather than held in memory.
const MAX_CRL_BYTES = 32 * 1024 * 1024

interface Entry {
  url: string
  /** The last good CRL, null until the first fetch succeeds. */
  crl: x509.X509Crl | null
  /** The fetch under way (first fetch, refresh or refetch after nextUpdate): callers share it. */
  pending: Promise<void> | null
  /** Why the last fetch failed. */
  error: string
  timer: NodeJS.Timeout | null
}

/** A CA the listener trusts, parsed once per CA set; whether it is a CA (basicConstraints) is read when first asked. */
interface TrustedCa {
  readonly cert: x509.X509Certificate
  isCa?: boolean
}

// The CA sets kept parsed: one per listener, or per managed bundle; a TLS reload brings a new one.
const MAX_CA_SETS = 64

export class CrlCache {
  readonly #config: CrlCacheConfig
  readonly #log: Log
  /** In use order: the least recently used first. */
  readonly #entries = new Map<string, Entry>()
  readonly #requests = new Set<ClientRequest>()
  /** The issuer certificates (by their DER, base64) whose key verified a CRL's signature. */
  readonly #verified = new WeakMap<x509.X509Crl, Map<string, TrustedCa>>()
  /** The listeners' CA sets, parsed, by their PEM (oldest first). */
  readonly #caSets = new Map<string, TrustedCa[]>()
  #closed = false

  constructor (config: CrlCacheConfig, log: Log) {
    this.#config = config
    this.#log = log
  }

  /** The check of the ssl listeners with ssl_options.enable_crl_check = true. */
  readonly peerCheck: PeerCheckFactory = (listenerId, opts) => {
    if (!opts.enable_crl_check) return undefined
    if (opts.verify !== 'verify_peer') {
      throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${listenerId}: ssl_options.enable_crl_check needs ssl_options.verify = verify_peer (verify_none asks clients for no certificate to check)`)
    }
    const hasCrlFile = opts.crlfile !== undefined && opts.crlfile !== ''
    const check: PeerCheck = (cert, socket, trustedCa) => this.check(cert, socket, trustedCa, hasCrlFile)
    return check
  }

  /**
   * Refuses a certificate revoked by, or not covered by a readable CRL of, one of its HTTP distribution
   * points; one without distribution points is covered by ssl_options.crlfile (`hasCrlFile`: OpenSSL checked
   * it in the handshake) or by a cached CRL of its issuer, else refused.
   */
  async check (cert: PeerCertificate, socket: TLSSocket, trustedCa: () => string, hasCrlFile = false): Promise<TlsFailureReport | null> {
    const leaf = new x509.X509Certificate(cert.der)
    const points = distributionPoints(leaf)
    if (points.length === 0) return hasCrlFile ? null : this.#checkByIssuer(leaf, cert, socket, trustedCa)
    for (const uris of points) {
      const report = await this.#checkPoint(leaf, cert, uris, socket, trustedCa)
      if (report) return report
    }
    return null
  }

  /** A certificate without a distribution point: a cached, current CRL of its issuer decides (OTP's same_issuer). */
  async #checkByIssuer (leaf: x509.X509Certificate, cert: PeerCertificate, socket: TLSSocket, trustedCa: () => string): Promise<TlsFailureReport | null> {
    for (const entry of this.#entries.values()) {
      const crl = entry.crl
      if (!crl || crl.issuer !== leaf.issuer || expired(crl)) continue
      if (await this.#signedByIssuer(crl, leaf, socket, trustedCa) !== 'verified') continue
      const revoked = crl.findRevoked(leaf)
      if (!revoked) return null
      return { reason: 'cert_revoked', detail: `the client certificate (serial ${cert.serial}) is revoked since ${revoked.revocationDate.toISOString()} by the CRL of ${leaf.issuer} cached from ${entry.url} (ssl_options.enable_crl_check)` }
    }
    return {
      reason: 'crl_unavailable',
      detail: `cannot determine whether the client certificate (serial ${cert.serial}, issuer ${leaf.issuer}) is revoked: it names no CRL distribution point and no current CRL of its issuer is cached. Issue client certificates with a CRL distribution point, set ssl_options.crlfile to its CA's CRL, or set ssl_options.enable_crl_check = false`,
    }
  }

  /** One distribution point: its URIs are alternatives, the first that yields a CRL decides. */
  async #checkPoint (leaf: x509.X509Certificate, cert: PeerCertificate, uris: string[], socket: TLSSocket, trustedCa: () => string): Promise<TlsFailureReport | null> {
    const urls = uris.filter((u) => /^http:\/\//i.test(u))
    if (urls.length === 0) {
      return { reason: 'crl_unavailable', detail: `the client certificate's CRL distribution point ${uris.join(', ') || '(no URI)'} has no http:// URL; ssl_options.enable_crl_check fetches CRLs over HTTP only` }
    }
    const errors: string[] = []
    for (const url of urls) {
      const crl = await this.#crl(url)
      if (typeof crl === 'string') {
        errors.push(`${url}: ${crl}`)
        continue
      }
      if (crl.issuer !== leaf.issuer) {
        errors.push(`${url}: the CRL is issued by ${crl.issuer}, not by the certificate's issuer ${leaf.issuer}`)
        continue
      }
      const signature = await this.#signedByIssuer(crl, leaf, socket, trustedCa)
      if (signature === 'no_issuer') {
        errors.push(`${url}: the CRL's signature cannot be checked: the client certificate's issuer ${leaf.issuer} is neither in the handshake's chain nor among the listener's CAs (a resumed session whose issuer is an intermediate only the client sends)`)
        continue
      }
      if (signature === 'bad') {
        errors.push(`${url}: the CRL's signature does not verify with the key of ${leaf.issuer}`)
        continue
      }
      const entry = crl.findRevoked(leaf)
      if (!entry) return null
      return { reason: 'cert_revoked', detail: `the client certificate (serial ${cert.serial}) is revoked since ${entry.revocationDate.toISOString()} by the CRL at ${url} (ssl_options.enable_crl_check)` }
    }
    return { reason: 'crl_unavailable', detail: `cannot determine whether the client certificate (serial ${cert.serial}) is revoked: ${errors.join('; ')}. Make the CRL distribution point reachable from the broker, or set ssl_options.enable_crl_check = false` }
  }

  /**
   * Verifies the CRL with the certificate's issuer: from the chain OpenSSL built in the handshake, else the
   * listener's CA that signed the certificate, else (a resumed session, whose chain Node does not keep) an
   * issuer that already verified this CRL and signed the certificate. No issuer: 'no_issuer', never a pass.
   */
  async #signedByIssuer (crl: x509.X509Crl, leaf: x509.X509Certificate, socket: TLSSocket, trustedCa: () => string): Promise<'verified' | 'bad' | 'no_issuer'> {
    const verified = this.#verified.get(crl) ?? new Map<string, TrustedCa>()
    this.#verified.set(crl, verified)
    const fromChain = issuerFromChain(socket, leaf)
    const issuer = fromChain ? { cert: fromChain } : await issuerAmong(this.#trusted(trustedCa()), leaf)
    if (!issuer) return await issuerAmong([...verified.values()], leaf) ? 'verified' : 'no_issuer'
    const id = Buffer.from(issuer.cert.rawData).toString('base64')
    if (verified.has(id)) return 'verified'
    // A signature that cannot be checked (a key the library cannot use) is one that does not verify.
    const ok = await crl.verify({ publicKey: issuer.cert }).catch(() => false)
    if (ok) verified.set(id, issuer)
    return ok ? 'verified' : 'bad'
  }

  /** The CAs of this PEM, parsed when the set is first seen (not on every check). */
  #trusted (pem: string): TrustedCa[] {
    let cas = this.#caSets.get(pem)
    if (cas) return cas
    cas = certificateBlocks(pem).map((block) => ({ cert: new x509.X509Certificate(block) }))
    if (this.#caSets.size >= MAX_CA_SETS) this.#caSets.delete(this.#caSets.keys().next().value!)
    this.#caSets.set(pem, cas)
    return cas
  }

  /** The CRL at `url`, fetched when not cached or past its nextUpdate; or why it cannot be had. */
  async #crl (url: string): Promise<x509.X509Crl | string> {
    let entry = this.#entries.get(url)
    if (entry) {
      this.#entries.delete(url)
    } else {
      entry = { url, crl: null, pending: null, error: '', timer: null }
      this.#evict()
    }
    this.#entries.set(url, entry)
    if (!entry.crl || expired(entry.crl)) await (entry.pending ?? this.#fetch(entry))
    return entry.crl ?? entry.error
  }

  #evict (): void {
    while (this.#entries.size >= this.#config.capacity) {
      const [url, oldest] = this.#entries.entries().next().value!
      if (oldest.timer) clearInterval(oldest.timer)
      this.#entries.delete(url)
    }
  }

  /** Fetches into the entry; a failure keeps the last good CRL, or drops an entry that has none. */
  #fetch (entry: Entry): Promise<void> {
    const refresh = entry.crl !== null
    entry.pending = download(entry.url, this.#config.http_timeout, this.#requests).then(parseCrl).then((crl) => {
      entry.crl = crl
      entry.error = ''
      this.#log.info({ url: entry.url, revoked: crl.entries.length, nextUpdate: crl.nextUpdate?.toISOString() }, 'CRL fetched')
      if (!entry.timer && !this.#closed && this.#entries.get(entry.url) === entry) {
        entry.timer = setInterval(() => { if (!entry.pending) void this.#fetch(entry) }, this.#config.refresh_interval)
        entry.timer.unref()
      }
    }, (err: unknown) => {
      entry.error = (err as Error).message
      if (refresh) {
        this.#log.warning({ url: entry.url, error: entry.error }, 'CRL refresh failed, the last good CRL stays in use')
      } else if (this.#entries.get(entry.url) === entry) {
        // Nothing to keep: the next client using this URL tries again.
        this.#entries.delete(entry.url)
      }
    }).finally(() => { entry.pending = null })
    return entry.pending
  }

  /** Stops the refresh timers and the fetches under way. */
  close (): void {
    this.#closed = true
    for (const entry of this.#entries.values()) if (entry.timer) clearInterval(entry.timer)
    this.#entries.clear()
    this.#caSets.clear()
    for (const req of this.#requests) req.destroy(new CulexError('CULEX_ERR_CRL', 'the broker is stopping'))
  }
}

/** The URIs of each CRL distribution point of the certificate (none when it has no such extension). */
function distributionPoints (cert: x509.X509Certificate): string[][] {
  const ext = cert.getExtension(x509.CRLDistributionPointsExtension)
  if (!ext) return []
  return ext.distributionPoints.map((dp) =>
    (dp.distributionPoint?.fullName ?? []).flatMap((name) => name.uniformResourceIdentifier === undefined ? [] : [name.uniformResourceIdentifier]))
}

function expired (crl: x509.X509Crl): boolean {
  return crl.nextUpdate !== undefined && crl.nextUpdate.getTime() <= Date.now()
}

/** The issuer as OpenSSL's verified chain gives it (the legacy object: Node 20's X509Certificate has no issuer on the server side). */
function issuerFromChain (socket: TLSSocket, leaf: x509.X509Certificate): x509.X509Certificate | undefined {
  const issuer = (socket.getPeerCertificate(true) as { issuerCertificate?: { raw?: Buffer } }).issuerCertificate
  if (!issuer?.raw) return undefined
  const cert = new x509.X509Certificate(issuer.raw)
  return cert.subject === leaf.issuer ? cert : undefined
}

/** The CA among `cas` whose name and key signed the certificate. */
async function issuerAmong (cas: TrustedCa[], leaf: x509.X509Certificate): Promise<TrustedCa | undefined> {
  for (const ca of cas) {
    if (ca.cert.subject !== leaf.issuer || !(ca.isCa ??= new NodeX509(Buffer.from(ca.cert.rawData)).ca)) continue
    // A signature that cannot be checked is one that does not verify: this CA did not sign the certificate.
    if (await leaf.verify({ publicKey: ca.cert, signatureOnly: true }).catch(() => false)) return ca
  }
  return undefined
}

/** The body of a 200 answer, within the timeout and MAX_CRL_BYTES. */
function download (url: string, timeoutMs: number, requests: Set<ClientRequest>): Promise<Buffer> {
  return new Promise((done, fail) => {
    let settled = false
    const settle = (err: Error | null, body?: Buffer) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      requests.delete(req)
      if (err) {
        req.destroy()
        fail(err)
      } else {
        done(body!)
      }
    }
    const req = httpGet(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        settle(new CulexError('CULEX_ERR_CRL', `HTTP status ${res.statusCode ?? '?'}`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_CRL_BYTES) settle(new CulexError('CULEX_ERR_CRL', `the CRL is larger than ${MAX_CRL_BYTES} bytes`))
        else chunks.push(chunk)
      })
      res.on('end', () => settle(null, Buffer.concat(chunks)))
      res.on('error', (err) => settle(err))
      res.on('close', () => settle(new CulexError('CULEX_ERR_CRL', 'the connection closed before the end of the CRL')))
    })
    const timer = setTimeout(() => settle(new CulexError('CULEX_ERR_CRL', `no answer within ${timeoutMs} ms (crl_cache.http_timeout)`)), timeoutMs)
    requests.add(req)
    req.on('error', (err: NodeJS.ErrnoException) => settle(new CulexError('CULEX_ERR_CRL', err.code ?? err.message)))
  })
}

/** A DER or PEM CRL. */
function parseCrl (body: Buffer): x509.X509Crl {
  const text = body.toString('latin1')
  try {
    return text.includes('-----BEGIN') ? new x509.X509Crl(text.slice(text.indexOf('-----BEGIN'))) : new x509.X509Crl(body)
  } catch (err) {
    throw new CulexError('CULEX_ERR_CRL', `the answer is not a DER or PEM CRL (${(err as Error).message})`)
  }
}
