// Certificate issuance: root and intermediate CAs, TLS server and client certificates (X.509 v3).
import { X509Certificate as NodeX509, createPublicKey, randomBytes, type KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import { CulexError } from '../errors.js'
import { x509 } from './x509.js'
import { DEFAULT_KEY_TYPE, algorithmsFor, exportKeyPem, generateKey, loadPrivateKey, publicCryptoKey, samePublicKey, signingKey, type KeyType } from './keys.js'
import { certificateBlocks } from './pem.js'

const DAY_MS = 24 * 60 * 60 * 1000
// notBefore is set a little in the past so that peers whose clock runs slightly behind accept a fresh certificate.
const CLOCK_SKEW_MS = 60 * 1000

export interface IssuerInput { certPem: string, keyPem: string, keyPassword?: string }

export interface IssueOptions {
  cn: string
  key?: KeyType
  days?: number
  /** Shift notBefore this many days into the past; notAfter stays notBefore + days. */
  startDaysAgo?: number
  /** Extended key usages: names (serverAuth, clientAuth, ...) or dotted OIDs; replaces the default. */
  eku?: string[]
  /** Encrypt the returned key (PKCS#8, AES-256-CBC). */
  keyPassword?: string
}

export interface CaOptions extends IssueOptions {
  /** Sign with this CA (an intermediate) instead of self-signing (a root). */
  issuer?: IssuerInput
  /** Most CAs allowed below this one; default 1 for a root (one intermediate level), issuer's minus 1 for an intermediate. */
  pathLen?: number
}

export interface LeafOptions extends IssueOptions { ca: IssuerInput }
export interface ServerOptions extends LeafOptions { sans?: string[] }
/** `extensions` are added as given (a CRL distribution point, ...). */
export interface ClientOptions extends LeafOptions { extensions?: x509.Extension[] }

export interface Issued { certPem: string, keyPem: string }

export const DEFAULT_CA_DAYS = 3650
export const DEFAULT_LEAF_DAYS = 825

const EKU_NAMES: Record<string, string> = { ...x509.ExtendedKeyUsage }

export function ekuOid (name: string): string {
  const oid = EKU_NAMES[name] ?? (/^\d+(\.\d+)+$/.test(name) ? name : undefined)
  if (oid === undefined) throw new CulexError('CULEX_ERR_CERT_ISSUE', `unknown extended key usage ${name}: use ${Object.keys(EKU_NAMES).join(', ')} or an OID`)
  return oid
}

/** 16 random bytes, high bit clear so the DER INTEGER stays positive, first byte non-zero so it keeps 16 bytes. */
export function randomSerial (): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) || 0x01
  return bytes.toString('hex')
}

function validity (days: number, startDaysAgo = 0): { notBefore: Date, notAfter: Date } {
  if (!(days > 0)) throw new CulexError('CULEX_ERR_CERT_ISSUE', 'days must be a positive number')
  if (!(startDaysAgo >= 0)) throw new CulexError('CULEX_ERR_CERT_ISSUE', 'startDaysAgo must not be negative')
  const notBefore = new Date(Date.now() - startDaysAgo * DAY_MS - CLOCK_SKEW_MS)
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) }
}

interface Signer { name: x509.Name, keyId: string, key: KeyObject, pathLen: number | undefined }

async function loadIssuer (issuer: IssuerInput): Promise<Signer> {
  const pem = certificateBlocks(issuer.certPem)[0]
  if (pem === undefined) throw new CulexError('CULEX_ERR_CERT_ISSUE', 'the CA file holds no certificate')
  const cert = new x509.X509Certificate(pem)
  const key = loadPrivateKey(issuer.keyPem, issuer.keyPassword, 'CA key')
  if (!new NodeX509(pem).ca) throw new CulexError('CULEX_ERR_CERT_ISSUE', `${cert.subject} is not a CA certificate (basicConstraints CA:TRUE missing)`)
  if (!samePublicKey(key, new NodeX509(pem).publicKey)) throw new CulexError('CULEX_ERR_CERT_ISSUE', `the CA key does not belong to the CA certificate ${cert.subject}`)
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)
  const keyId = ski?.keyId ?? (await x509.SubjectKeyIdentifierExtension.create(await publicCryptoKey(key))).keyId
  return { name: cert.subjectName, keyId, key, pathLen: cert.getExtension(x509.BasicConstraintsExtension)?.pathLength }
}

interface Build {
  cn: string
  subjectKey: KeyObject
  signer: Signer | null
  days: number
  startDaysAgo: number | undefined
  extensions: x509.Extension[]
}

async function build (b: Build): Promise<string> {
  if (b.cn.trim() === '') throw new CulexError('CULEX_ERR_CERT_ISSUE', 'the common name (CN) must not be empty')
  const publicKey = await publicCryptoKey(b.subjectKey)
  const signerKey = b.signer?.key ?? b.subjectKey
  const ski = await x509.SubjectKeyIdentifierExtension.create(publicKey)
  const subject = new x509.Name([{ CN: [b.cn] }])
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: b.signer?.name ?? subject,
    ...validity(b.days, b.startDaysAgo),
    publicKey,
    signingKey: await signingKey(signerKey),
    signingAlgorithm: algorithmsFor(signerKey).signParams,
    extensions: [
      ...b.extensions,
      ski,
      new x509.AuthorityKeyIdentifierExtension(b.signer?.keyId ?? ski.keyId),
    ],
  })
  return cert.toString('pem') + '\n'
}

function ekuExtension (names: string[] | undefined, defaults: string[]): x509.Extension[] {
  const list = names ?? defaults
  return list.length === 0 ? [] : [new x509.ExtendedKeyUsageExtension(list.map(ekuOid), false)]
}

/** A self-signed root CA, or an intermediate CA signed by `issuer`. */
export async function createCa (options: CaOptions): Promise<Issued> {
  const signer = options.issuer ? await loadIssuer(options.issuer) : null
  if (signer?.pathLen === 0) throw new CulexError('CULEX_ERR_CERT_ISSUE', 'the issuing CA has pathLen 0: it may not sign another CA (create it with a larger pathLen)')
  const pathLen = options.pathLen ?? (signer === null ? 1 : signer.pathLen === undefined ? 0 : signer.pathLen - 1)
  const key = await generateKey(options.key ?? DEFAULT_KEY_TYPE)
  const certPem = await build({
    cn: options.cn,
    subjectKey: key,
    signer,
    days: options.days ?? DEFAULT_CA_DAYS,
    startDaysAgo: options.startDaysAgo,
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLen, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ...ekuExtension(options.eku, []),
    ],
  })
  return { certPem, keyPem: exportKeyPem(key, options.keyPassword) }
}

/** DNS names and IP addresses (v4 or v6) told apart by their syntax. */
export function sanNames (sans: string[]): x509.JsonGeneralName[] {
  return sans.map((san) => {
    const value = san.trim()
    const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value
    if (isIP(bare) !== 0) return { type: 'ip', value: bare }
    if (!/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/.test(value)) {
      throw new CulexError('CULEX_ERR_CERT_ISSUE', `SAN ${JSON.stringify(san)} is neither a DNS name nor an IP address`)
    }
    return { type: 'dns', value }
  })
}

async function issueLeaf (options: LeafOptions, usages: x509.KeyUsageFlags, ekuDefaults: string[], san: x509.Extension[]): Promise<Issued> {
  const signer = await loadIssuer(options.ca)
  const key = await generateKey(options.key ?? DEFAULT_KEY_TYPE)
  const certPem = await build({
    cn: options.cn,
    subjectKey: key,
    signer,
    days: options.days ?? DEFAULT_LEAF_DAYS,
    startDaysAgo: options.startDaysAgo,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(keyUsageFor(key, usages), true),
      ...ekuExtension(options.eku, ekuDefaults),
      ...san,
    ],
  })
  return { certPem, keyPem: exportKeyPem(key, options.keyPassword) }
}

// keyEncipherment only means something for RSA (TLS 1.2 RSA key transport); RFC 5480 does not allow it for EC keys.
function keyUsageFor (key: KeyObject, usages: x509.KeyUsageFlags): x509.KeyUsageFlags {
  return createPublicKey(key).asymmetricKeyType === 'rsa' ? usages : usages & ~x509.KeyUsageFlags.keyEncipherment
}

/** A TLS server certificate; without SANs, the CN is the one DNS name (clients ignore the CN itself). */
export async function issueServer (options: ServerOptions): Promise<Issued> {
  const sans = options.sans !== undefined && options.sans.length > 0 ? options.sans : [options.cn]
  const san = new x509.SubjectAlternativeNameExtension(sanNames(sans), false)
  return issueLeaf(options, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, ['serverAuth'], [san])
}

/** A TLS client certificate (the CN is what brokers take as the client's identity). */
export async function issueClient (options: ClientOptions): Promise<Issued> {
  return issueLeaf(options, x509.KeyUsageFlags.digitalSignature, ['clientAuth'], options.extensions ?? [])
}
