// ssl_options (EMQX names) → Node TLS server options. Files are read here, and the result is checked by
// building a SecureContext, so a bad key, password or certificate names the key and file at fault.
import { constants, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { createSecureContext, type TlsOptions } from 'node:tls'
import type { SslOptions } from '../config/schema.js'
import { describeKey } from '../certs/keys.js'
import { CulexError } from '../errors.js'
import { IANA_TO_OPENSSL } from './tls-ciphers.js'

const VERSION_ORDER = ['tlsv1', 'tlsv1.1', 'tlsv1.2', 'tlsv1.3'] as const
const NODE_VERSION = { tlsv1: 'TLSv1', 'tlsv1.1': 'TLSv1.1', 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3' } as const
const NO_VERSION = {
  tlsv1: constants.SSL_OP_NO_TLSv1,
  'tlsv1.1': constants.SSL_OP_NO_TLSv1_1,
  'tlsv1.2': constants.SSL_OP_NO_TLSv1_2,
  'tlsv1.3': constants.SSL_OP_NO_TLSv1_3,
} as const
const TLS13_SUITES = new Set(['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256', 'TLS_AES_128_CCM_8_SHA256'])

/** The files a listener's TLS context is made of, as read at one moment. */
export interface TlsFiles { cert: Buffer; key: Buffer; ca: Buffer | undefined; crl?: Buffer | undefined; dh?: Buffer | undefined }

/** Paths of the files to watch for hot reload. */
export function tlsFilePaths (opts: SslOptions): string[] {
  // One-way TLS may name a CA file that does not exist (readTlsFiles allows it): nothing to watch then.
  const ca = opts.verify === 'verify_peer' || existsSync(opts.cacertfile) ? [opts.cacertfile] : []
  const crl = opts.crlfile ? [opts.crlfile] : []
  return [opts.certfile, opts.keyfile, ...ca, ...crl].map((p) => resolve(p))
}

/** `caOptional`: the listener trusts other CAs too (the device registry), so cacertfile may be missing. */
export function readTlsFiles (opts: SslOptions, listenerId: string, caOptional = false): TlsFiles {
  const read = (key: 'certfile' | 'keyfile' | 'cacertfile' | 'crlfile' | 'dhfile', optional: boolean): Buffer | undefined => {
    try {
      return readFileSync(resolve(opts[key] ?? ''))
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (optional && code === 'ENOENT') return undefined
      const what = code === 'ENOENT' ? `ENOENT, no such file${missingFileHint(key, opts[key]!)}` : code ?? (err as Error).message
      throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${listenerId}: ssl_options.${key} ${opts[key]}: ${what}`, { cause: err })
    }
  }
  // One-way TLS needs no CA file (EMQX: "can be empty"); two-way TLS does.
  const ca = read('cacertfile', opts.verify === 'verify_none' || caOptional)
  return {
    cert: read('certfile', false)!,
    key: read('keyfile', false)!,
    ca,
    crl: opts.crlfile ? read('crlfile', false) : undefined,
    dh: opts.dhfile ? read('dhfile', false) : undefined,
  }
}

/** How to make a missing TLS file with culex certs (each writes <out>.pem and <out>.key). */
function missingFileHint (key: 'certfile' | 'keyfile' | 'cacertfile' | 'crlfile' | 'dhfile', path: string): string {
  const out = path.replace(/\.(pem|crt|cer)$/, '')
  switch (key) {
    case 'cacertfile': return `; make a CA with: npx culex certs ca --cn "My CA" --out ${out}`
    case 'certfile': return `; make a development CA and server certificate with: npx culex certs init --dir ${dirname(path)} (then point certfile, keyfile and cacertfile at server.pem, server.key and ca.pem there), or one server certificate with: npx culex certs server --ca CA.pem --ca-key CA.key --cn HOST --san HOST --out ${out}`
    case 'keyfile': return '; it is written beside the certificate by npx culex certs init or npx culex certs server (see certfile)'
    default: return ''
  }
}

/** Node TLS options for a listener; throws a CulexError naming the option at fault. */
export function tlsServerOptions (opts: SslOptions, files: TlsFiles, listenerId: string): TlsOptions {
  const fail = (key: string, detail: string): never => {
    throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${listenerId}: ssl_options.${key}: ${detail}`)
  }
  const listed = VERSION_ORDER.filter((v) => opts.versions.includes(v))
  const min = listed[0]!
  const max = listed[listed.length - 1]!
  let secureOptions = 0
  for (const v of VERSION_ORDER.slice(VERSION_ORDER.indexOf(min), VERSION_ORDER.indexOf(max) + 1)) {
    if (!listed.includes(v)) secureOptions |= NO_VERSION[v]
  }
  if (!opts.reuse_sessions) secureOptions |= constants.SSL_OP_NO_TICKET
  if (!opts.client_renegotiation) secureOptions |= constants.SSL_OP_NO_RENEGOTIATION

  const { tls12, tls13 } = splitCiphers(opts.ciphers, (name) => fail('ciphers', `unknown cipher suite ${name}`))
  // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level; listing them is the user's explicit choice.
  const legacy = VERSION_ORDER.indexOf(min) < VERSION_ORDER.indexOf('tlsv1.2')
  let cipherList = tls12.length > 0 ? tls12.join(':') : (legacy ? 'DEFAULT' : '')
  if (legacy) cipherList += ':@SECLEVEL=0'
  if (tls13.length > 0) cipherList = [tls13.join(':'), cipherList].filter(Boolean).join(':')

  const options: TlsOptions = {
    cert: withIssuers(files.cert, files.ca),
    key: files.key,
    passphrase: opts.password,
    minVersion: NODE_VERSION[min],
    maxVersion: NODE_VERSION[max],
    secureOptions,
    honorCipherOrder: opts.honor_cipher_order,
    requestCert: opts.verify === 'verify_peer',
    // We decide after the handshake, so that a missing certificate can be allowed and every refusal logged with its reason.
    rejectUnauthorized: false,
    handshakeTimeout: opts.handshake_timeout,
    sessionTimeout: 300,
  }
  if (cipherList) options.ciphers = cipherList
  // Always an explicit list: without `ca`, Node trusts its public roots (and NODE_EXTRA_CA_CERTS) for client certificates.
  options.ca = hasCa(files.ca) ? files.ca : []
  if (files.crl) options.crl = files.crl
  if (files.dh) options.dhparam = files.dh
  if (opts.partial_chain) (options as TlsOptions & { allowPartialTrustChain?: boolean }).allowPartialTrustChain = true
  checkContext(options, files, opts, fail)
  return options
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/**
 * certfile followed by its issuers from the CA file, up to the root: the chain OpenSSL sends when certfile
 * holds the server certificate alone. OpenSSL builds that chain at every handshake when none is configured,
 * verifying each signature again (with an ECDSA P-256 certificate, one verification per handshake: ~75 µs
 * of a TLS 1.3 connection's ~850 here); built once, the same certificates go out. A certfile that already
 * holds a chain, or whose issuer is not in the CA file, is used as it is.
 */
export function withIssuers (cert: Buffer, ca: Buffer | undefined): Buffer {
  const leafPem = cert.toString('latin1').match(PEM_CERTIFICATE)
  if (leafPem === null || leafPem.length !== 1 || !hasCa(ca)) return cert
  const parse = (pem: string): X509Certificate | null => {
    try {
      return new X509Certificate(pem)
    } catch {
      return null
    }
  }
  const leaf = parse(leafPem[0]!)
  if (leaf === null) return cert
  const cas = (ca.toString('latin1').match(PEM_CERTIFICATE) ?? []).map(parse).filter((c): c is X509Certificate => c !== null)
  const chain: X509Certificate[] = []
  let current = leaf
  // A self-signed certificate ends the chain; so does a depth no real chain has.
  while (chain.length < 10 && !(current.checkIssued(current) && current.verify(current.publicKey))) {
    const from = current
    const issuer = cas.find((c) => !chain.includes(c) && from.checkIssued(c) && from.verify(c.publicKey))
    if (issuer === undefined) break
    chain.push(issuer)
    current = issuer
  }
  return chain.length === 0 ? cert : Buffer.from([leafPem[0]!, ...chain.map((c) => c.toString().trim())].join('\n') + '\n')
}

/** Whether these TLS options trust any CA for client certificates. */
export function trustsClientCa (options: TlsOptions): boolean {
  const ca = options.ca
  return Array.isArray(ca) ? ca.some((c) => hasCa(c)) : hasCa(ca)
}

function hasCa (ca: string | Buffer | undefined): ca is string | Buffer {
  return ca !== undefined && /-----BEGIN CERTIFICATE-----/.test(ca.toString())
}

function splitCiphers (names: string[], unknown: (name: string) => never): { tls12: string[], tls13: string[] } {
  const tls12: string[] = []
  const tls13: string[] = []
  for (const name of names) {
    if (TLS13_SUITES.has(name)) tls13.push(name)
    else if (IANA_TO_OPENSSL[name]) tls12.push(IANA_TO_OPENSSL[name])
    else if (/^[A-Z0-9-]+$/.test(name) && !name.startsWith('TLS_')) tls12.push(name)
    else unknown(name)
  }
  return { tls12, tls13 }
}

/** Builds a SecureContext once, turning OpenSSL's complaints into sentences that name the file. */
function checkContext (options: TlsOptions, files: TlsFiles, opts: SslOptions, fail: (key: string, detail: string) => never): void {
  try {
    new X509Certificate(files.cert)
  } catch (err) {
    fail('certfile', `${opts.certfile} holds no readable PEM certificate (${(err as Error).message})`)
  }
  try {
    createSecureContext(options)
  } catch (err) {
    const message = (err as Error).message
    // OpenSSL words a missing or wrong passphrase several ways (bad decrypt, DECODER unsupported, ...).
    const encrypted = /ENCRYPTED/.test(files.key.toString('latin1'))
    if (/bad decrypt|bad password|passphrase/i.test(message) || (encrypted && /DECODER|PEM|decrypt/i.test(message))) {
      fail('password', `cannot decrypt ${opts.keyfile}: wrong or missing password`)
    }
    if (/key values mismatch/i.test(message)) fail('keyfile', `keyfile does not match certfile: ${opts.keyfile} is not the key of the certificate in ${opts.certfile}`)
    if (files.crl && /CRL/i.test(message)) fail('crlfile', `${opts.crlfile} holds no readable PEM CRL (${message})`)
    if (/no cipher match|no ciphers available/i.test(message)) fail('ciphers', `no usable cipher suite in [${opts.ciphers.join(', ')}]`)
    if (/PEM|DECODER|bad base64|no start line/i.test(message)) fail('keyfile', `${opts.keyfile} holds no readable PEM private key (${message})`)
    fail('certfile', message)
  }
  checkKeyMatches(files, opts, fail)
}

/**
 * OpenSSL refuses a key of the certificate's type that is not its key (key values mismatch, above), but
 * takes a key of another type (an RSA key with an EC certificate) and then fails every handshake.
 */
function checkKeyMatches (files: TlsFiles, opts: SslOptions, fail: (key: string, detail: string) => never): void {
  const certKey = new X509Certificate(files.cert).publicKey
  const publicKey = createPublicKey(createPrivateKey({ key: files.key, passphrase: opts.password }))
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' })
  if (!spki(certKey).equals(spki(publicKey))) {
    fail('keyfile', `keyfile does not match certfile: ${opts.keyfile} (${describeKey(publicKey)} key) is not the key of the certificate in ${opts.certfile} (${describeKey(certKey)})`)
  }
}
