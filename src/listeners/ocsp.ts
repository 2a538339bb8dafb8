// OCSP stapling (EMQX `ssl_options.ocsp`): the listener asks the responder about its own certificate every
// refresh_interval and hands the signed answer to clients that ask for it in the handshake (status_request),
// so they need not ask the responder themselves. A failed refresh keeps the last good answer until its nextUpdate.
import { createHash, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { resolve } from 'node:path'
import type { Server as TlsServer } from 'node:tls'
import { BasicOCSPResponse, CertID, OCSPRequest, OCSPResponse, OCSPResponseStatus, Request, TBSRequest, id_pkix_ocsp_basic, type SingleResponse } from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, Certificate } from '@peculiar/asn1-x509'
import type { SslListenerOptions } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import { certificateBlocks } from '../certs/pem.js'

const SHA1_OID = '1.3.14.3.2.26'
const MAX_RESPONSE_BYTES = 1024 * 1024
// A responder whose clock runs a little ahead still gives a usable answer.
const CLOCK_SKEW_MS = 5 * 60 * 1000

export type CertStatusName = 'good' | 'revoked' | 'unknown'

/** A checked responder answer for one server certificate. */
interface Staple {
  /** The whole OCSPResponse, as the responder sent it (what is stapled). */
  der: Buffer
  /** DER of the server certificate it is about. */
  cert: Buffer
  status: CertStatusName
  nextUpdate: Date | undefined
}

/** The server certificate the listener presents, and the CertID that names it to the responder. */
interface Subject { der: Buffer, serial: string, certId: CertID }

export class OcspStapler {
  readonly #log: Log
  readonly #id: string
  readonly #url: URL
  readonly #certfile: string
  readonly #issuer: X509Certificate
  readonly #interval: number
  readonly #timeout: number
  #subject: Subject
  #staple: Staple | null = null
  #timer: NodeJS.Timeout | null = null
  #inflight: Promise<boolean> | null = null
  #closed = false

  /**
   * The stapler of a listener whose ssl_options.ocsp enables stapling, or undefined; throws a CulexError
   * naming the key when the responder URL, issuer or certificate cannot be used.
   */
  static create (log: Log, listenerId: string, opts: SslListenerOptions): OcspStapler | undefined {
    if (!opts.ocsp.enable_ocsp_stapling) return undefined
    if (opts.managed_certs.length > 0) {
      log.warning({ listener: listenerId }, 'ssl_options.ocsp: OCSP stapling covers certfile only, not managed_certs; nothing is stapled on this listener')
      return undefined
    }
    return new OcspStapler(log, listenerId, opts)
  }

  private constructor (log: Log, listenerId: string, opts: SslListenerOptions) {
    const fail = (key: string, detail: string): never => {
      throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${listenerId}: ssl_options.${key} ${detail}`)
    }
    this.#log = log
    this.#id = listenerId
    this.#interval = opts.ocsp.refresh_interval
    this.#timeout = opts.ocsp.refresh_http_timeout
    this.#certfile = opts.certfile
    this.#url = responderUrl(opts.ocsp.responder_url, fail)
    this.#issuer = readIssuer(opts.ocsp.issuer_pem, fail)
    this.#subject = this.#readSubject(fail)
  }

  /** The first fetch, bounded by refresh_http_timeout (a failure is logged, not thrown), then the refresh timer. */
  async start (): Promise<void> {
    await this.refresh()
    this.#schedule()
  }

  /** Staples the current response to handshakes of clients that ask for the certificate status. */
  attach (server: TlsServer): void {
    server.on('OCSPRequest', (cert: Buffer, _issuer: Buffer | null, done: (err: Error | null, resp: Buffer | null) => void) => {
      done(null, this.current(cert))
    })
  }

  /** The response to staple for that server certificate (DER), or null. */
  current (cert: Buffer): Buffer | null {
    const staple = this.#staple
    if (!staple) return null
    if (this.#expired(staple)) return null
    // The certificate was reloaded (file change, SIGHUP): the response is about the old one.
    if (!staple.cert.equals(cert)) {
      void this.refresh()
      return null
    }
    return staple.der
  }

  /** Fetches a fresh response (re-reading certfile); resolves whether one was installed. Never rejects. */
  refresh (): Promise<boolean> {
    this.#inflight ??= this.#fetch().finally(() => { this.#inflight = null })
    return this.#inflight
  }

  close (): void {
    this.#closed = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  // One timer at a time, re-armed after each fetch, so a slow responder never stacks requests.
  #schedule (): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => { void this.refresh().finally(() => this.#schedule()) }, this.#interval)
    this.#timer.unref()
  }

  async #fetch (): Promise<boolean> {
    const url = this.#url.href
    try {
      this.#subject = this.#readSubject((key, detail) => { throw new CulexError('CULEX_ERR_TLS_CONFIG', `ssl_options.${key} ${detail}`) })
      const subject = this.#subject
      const body = Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest: new TBSRequest({ requestList: [new Request({ reqCert: subject.certId })] }) })))
      const der = await post(this.#url, body, this.#timeout)
      if (this.#closed) return false
      const staple = checkResponse(der, subject)
      this.#install(staple, url)
      return true
    } catch (err) {
      const staple = this.#staple
      const kept = staple && !this.#expired(staple)
        ? `the previous response stays stapled${staple.nextUpdate ? ` until ${staple.nextUpdate.toISOString()}` : ''}`
        : 'nothing is stapled'
      this.#log.warning({ listener: this.#id, responder: url }, `OCSP response not refreshed: ${(err as Error).message}; ${kept}`)
      return false
    }
  }

  #install (staple: Staple, url: string): void {
    const previous = this.#staple?.status
    this.#staple = staple
    const fields = { listener: this.#id, responder: url, status: staple.status, next_update: staple.nextUpdate?.toISOString() ?? null }
    if (staple.status !== 'good') this.#log.warning(fields, `OCSP responder says the server certificate's status is ${staple.status}; clients that check the stapled response will refuse it`)
    else if (previous !== 'good') this.#log.info(fields, 'OCSP response fetched and stapled')
    else this.#log.debug(fields, 'OCSP response refreshed')
  }

  /** Drops a response past its nextUpdate (logged once); without nextUpdate a response stays until replaced. */
  #expired (staple: Staple): boolean {
    if (!staple.nextUpdate || staple.nextUpdate.getTime() > Date.now()) return false
    if (this.#staple === staple) {
      this.#staple = null
      this.#log.warning({ listener: this.#id, responder: this.#url.href, next_update: staple.nextUpdate.toISOString() },
        'OCSP response expired and could not be refreshed; nothing is stapled until the responder answers')
    }
    return true
  }

  #readSubject (fail: (key: string, detail: string) => never): Subject {
    const path = this.#certfile
    let text: string
    try {
      text = readFileSync(resolve(path), 'latin1')
    } catch (err) {
      return fail('certfile', `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    const pem = certificateBlocks(text)[0]
    if (pem === undefined) return fail('certfile', `${path} holds no PEM certificate`)
    const cert = new X509Certificate(pem)
    if (!cert.checkIssued(this.#issuer)) fail('ocsp.issuer_pem', `${this.#issuer.subject.split('\n').join(',')} is not the issuer of the certificate in ssl_options.certfile (${cert.issuer.split('\n').join(',')})`)
    if (this.#subject?.der.equals(cert.raw)) return this.#subject
    return { der: cert.raw, serial: cert.serialNumber, certId: certIdFor(cert.raw, this.#issuer.raw) }
  }
}

function responderUrl (value: string, fail: (key: string, detail: string) => never): URL {
  if (value.trim() === '') fail('ocsp.responder_url', 'is empty; enable_ocsp_stapling needs the HTTP URL of the OCSP responder')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return fail('ocsp.responder_url', `${value} is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('ocsp.responder_url', `${value}: only http:// and https:// responders are supported`)
  return url
}

function readIssuer (path: string, fail: (key: string, detail: string) => never): X509Certificate {
  if (path.trim() === '') fail('ocsp.issuer_pem', 'is empty; enable_ocsp_stapling needs the PEM file of the CA that issued the server certificate')
  let text: string
  try {
    text = readFileSync(resolve(path), 'latin1')
  } catch (err) {
    return fail('ocsp.issuer_pem', `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const pem = certificateBlocks(text)[0]
  if (pem === undefined) fail('ocsp.issuer_pem', `${path} holds no PEM certificate`)
  try {
    return new X509Certificate(pem!)
  } catch (err) {
    return fail('ocsp.issuer_pem', `${path}: the certificate cannot be parsed (${(err as Error).message})`)
  }
}

/** RFC 6960 4.1.1: SHA-1 of the issuer's DN and of its public key (the BIT STRING's bits), and the serial. */
function certIdFor (certDer: Buffer, issuerDer: Buffer): CertID {
  const cert = AsnConvert.parse(certDer, Certificate)
  const issuer = AsnConvert.parse(issuerDer, Certificate)
  const sha1 = (data: ArrayBuffer) => new OctetString(createHash('sha1').update(Buffer.from(data)).digest())
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1_OID, parameters: null }),
    issuerNameHash: sha1(AsnConvert.serialize(cert.tbsCertificate.issuer)),
    issuerKeyHash: sha1(issuer.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey),
    serialNumber: cert.tbsCertificate.serialNumber,
  })
}

/** The responder's answer checked for our certificate; throws a sentence saying what is wrong with it. */
function checkResponse (der: Buffer, subject: Subject): Staple {
  const response = parseDer(der, OCSPResponse)
  if (response.responseStatus !== OCSPResponseStatus.successful) {
    throw new CulexError('CULEX_ERR_OCSP', `the responder answered ${OCSPResponseStatus[response.responseStatus] ?? response.responseStatus}`)
  }
  if (response.responseBytes?.responseType !== id_pkix_ocsp_basic) throw new CulexError('CULEX_ERR_OCSP', 'the response is not a basic OCSP response')
  const basic = parseDer(response.responseBytes.response.buffer, BasicOCSPResponse)
  const single = basic.tbsResponseData.responses.find((r) => sameCert(r, subject.certId))
  if (!single) throw new CulexError('CULEX_ERR_OCSP', `the response says nothing about serial ${subject.serial}`)
  const now = Date.now()
  if (single.thisUpdate.getTime() > now + CLOCK_SKEW_MS) throw new CulexError('CULEX_ERR_OCSP', `the response's thisUpdate ${single.thisUpdate.toISOString()} is in the future`)
  if (single.nextUpdate && single.nextUpdate.getTime() <= now) throw new CulexError('CULEX_ERR_OCSP', `the response expired at its nextUpdate ${single.nextUpdate.toISOString()}`)
  const s = single.certStatus
  const status: CertStatusName = s.revoked !== undefined ? 'revoked' : s.unknown !== undefined ? 'unknown' : 'good'
  return { der, cert: subject.der, status, nextUpdate: single.nextUpdate }
}

function parseDer<T> (der: Buffer | ArrayBuffer, type: new () => T): T {
  try {
    return AsnConvert.parse(der, type)
  } catch (err) {
    throw new CulexError('CULEX_ERR_OCSP', `the response is not a DER OCSP response (${(err as Error).message})`, { cause: err })
  }
}

// Responders answer with the CertID they were asked; hashes with another algorithm are matched on the serial alone.
function sameCert (single: SingleResponse, ours: CertID): boolean {
  const theirs = single.certID
  if (!Buffer.from(theirs.serialNumber).equals(Buffer.from(ours.serialNumber))) return false
  if (theirs.hashAlgorithm.algorithm !== SHA1_OID) return true
  return Buffer.from(theirs.issuerNameHash.buffer).equals(Buffer.from(ours.issuerNameHash.buffer)) &&
    Buffer.from(theirs.issuerKeyHash.buffer).equals(Buffer.from(ours.issuerKeyHash.buffer))
}

/** POSTs the request (RFC 6960 A.1) with one timeout for the whole exchange; resolves the 200 body. */
function post (url: URL, body: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response', 'content-length': body.length },
    }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new CulexError('CULEX_ERR_OCSP', `the responder answered HTTP ${res.statusCode}`))
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_RESPONSE_BYTES) req.destroy(new CulexError('CULEX_ERR_OCSP', `the response is larger than ${MAX_RESPONSE_BYTES} bytes`))
        else chunks.push(chunk)
      })
      res.on('end', () => resolve(Buffer.concat(chunks)))
      res.on('error', reject)
    })
    const timer = setTimeout(() => req.destroy(new CulexError('CULEX_ERR_OCSP', `no answer within ${timeoutMs} ms (ssl_options.ocsp.refresh_http_timeout)`)), timeoutMs)
    req.on('close', () => clearTimeout(timer))
    req.on('error', (err: NodeJS.ErrnoException) => reject(new CulexError('CULEX_ERR_OCSP', err.code && !err.message.includes(err.code) ? `${err.code} ${err.message}` : err.message, { cause: err })))
    req.end(body)
  })
}
