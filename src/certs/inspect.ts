// A readable account of a PEM file: each certificate, whether they are in chain order, whether a key is there.
import { X509Certificate as NodeX509, createPrivateKey } from 'node:crypto'
import { x509 } from './x509.js'
import { describeKey, isEncryptedPem, samePublicKey } from './keys.js'
import { isPrivateKeyLabel, issuedBy, pemBlocks } from './pem.js'

export type ValidityState = 'valid' | 'expired' | 'not yet valid'

export interface CertificateInfo {
  subject: string
  issuer: string
  serial: string
  sans: string[]
  notBefore: Date
  notAfter: Date
  state: ValidityState
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number
  key: string
  isCa: boolean
  pathLen?: number
  selfSigned: boolean
  keyUsage: string[]
  extendedKeyUsage: string[]
  fingerprint256: string
}

export interface ChainReport {
  /** True when each certificate is issued by the next one (leaf first, root last). */
  ordered: boolean
  /** links[i]: certificate i is issued by certificate i + 1. */
  links: boolean[]
  verdict: string
}

export interface PrivateKeyReport {
  encrypted: boolean
  /** "EC P-256", "RSA 2048"; undefined when encrypted. */
  key?: string
  /** Whether it belongs to the first certificate; undefined when encrypted or there is no certificate. */
  matchesFirst?: boolean
}

export interface PemReport { certificates: CertificateInfo[], chain: ChainReport, privateKeys: PrivateKeyReport[] }

const DAY_MS = 24 * 60 * 60 * 1000
const EKU_NAMES = new Map(Object.entries(x509.ExtendedKeyUsage).map(([name, oid]) => [oid as string, name]))

function keyUsageNames (flags: number): string[] {
  return Object.entries(x509.KeyUsageFlags).filter(([, bit]) => typeof bit === 'number' && (flags & bit) !== 0).map(([name]) => name)
}

function sanList (cert: x509.X509Certificate): string[] {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension)
  const label: Record<string, string> = { dns: 'DNS', ip: 'IP', email: 'email', url: 'URI' }
  return ext === null ? [] : ext.names.toJSON().map((n) => `${label[n.type] ?? n.type}:${n.value}`)
}

export function validityState (notBefore: Date, notAfter: Date, at = new Date()): ValidityState {
  if (at.getTime() > notAfter.getTime()) return 'expired'
  if (at.getTime() < notBefore.getTime()) return 'not yet valid'
  return 'valid'
}

function describe (pem: string, node: NodeX509, at: Date): CertificateInfo {
  const cert = new x509.X509Certificate(pem)
  const basic = cert.getExtension(x509.BasicConstraintsExtension)
  const ku = cert.getExtension(x509.KeyUsagesExtension)
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serial: node.serialNumber.toUpperCase(),
    sans: sanList(cert),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    state: validityState(cert.notBefore, cert.notAfter, at),
    daysLeft: Math.floor((cert.notAfter.getTime() - at.getTime()) / DAY_MS),
    key: describeKey(node.publicKey),
    isCa: basic?.ca ?? false,
    ...(basic?.pathLength !== undefined ? { pathLen: basic.pathLength } : {}),
    selfSigned: issuedBy(node, node),
    keyUsage: ku === null ? [] : keyUsageNames(ku.usages),
    extendedKeyUsage: eku === null ? [] : eku.usages.map((u) => EKU_NAMES.get(String(u)) ?? String(u)),
    fingerprint256: node.fingerprint256,
  }
}

function chainReport (certs: NodeX509[], infos: CertificateInfo[]): ChainReport {
  const links = certs.slice(0, -1).map((cert, i) => issuedBy(cert, certs[i + 1]!))
  const ordered = links.every(Boolean)
  const name = (i: number) => `${i + 1} (${infos[i]!.subject})`
  let verdict: string
  if (certs.length === 0) verdict = 'no certificate in the file'
  else if (ordered) {
    const last = infos[infos.length - 1]!
    if (certs.length === 1) verdict = last.selfSigned ? 'a single self-signed certificate' : `a single certificate, issued by ${last.issuer} (not in this file)`
    else {
      const order = `in order, leaf first: ${certs.length} certificates`
      verdict = last.selfSigned ? `${order} ending with the self-signed root ${last.subject}` : `${order}; the last is issued by ${last.issuer} (not in this file)`
    }
  } else {
    const reversed = certs.length > 1 && certs.slice(1).every((cert, i) => issuedBy(cert, certs[i]!))
    const broken = links.indexOf(false)
    verdict = reversed
      ? 'NOT in order: the certificates are reversed (root first); put the leaf first, then its issuer, and so on'
      : `NOT in order: certificate ${name(broken)} is not issued by certificate ${name(broken + 1)}`
  }
  return { ordered, links, verdict }
}

function keyReport (pem: string, first: NodeX509 | undefined): PrivateKeyReport {
  const encrypted = isEncryptedPem(pem)
  if (encrypted) return { encrypted }
  try {
    const key = createPrivateKey(pem)
    return { encrypted, key: describeKey(key), ...(first !== undefined ? { matchesFirst: samePublicKey(first.publicKey, key) } : {}) }
  } catch {
    // A block Node cannot read as a key: reported without its type and match.
    return { encrypted }
  }
}

export function inspectPem (text: string, at = new Date()): PemReport {
  const blocks = pemBlocks(text)
  const pems = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => b.pem)
  const certs = pems.map((pem, i) => {
    try {
      return new NodeX509(pem)
    } catch (err) {
      // Stays a plain Error: test/certs/bad-pem.test.ts pins its class; culex certs inspect prints its message (exit 1).
      throw new Error(`certificate ${i + 1} in the file cannot be parsed (${(err as Error).message})`, { cause: err })
    }
  })
  const certificates = pems.map((pem, i) => describe(pem, certs[i]!, at))
  const privateKeys = blocks.filter((b) => isPrivateKeyLabel(b.label)).map((b) => keyReport(b.pem, certs[0]))
  return { certificates, chain: chainReport(certs, certificates), privateKeys }
}
