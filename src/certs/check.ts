// Seed 000's import rules for a certificate bundle (key, chain, ca). Each refusal names its rule; a partial
// bundle is checked as far as the files it has allow (key rules need a key, chain rules a chain).
import { X509Certificate, type KeyObject } from 'node:crypto'
import { rootCertificates } from 'node:tls'
import { CulexError } from '../errors.js'
import { describeKey, exportKeyPem, isEncryptedPem, loadPrivateKey, samePublicKey } from './keys.js'
import { isPrivateKeyLabel, issuedBy, isSelfSigned, oneLineName, pemBlocks, type PemBlock } from './pem.js'
import { formatDate } from './verify.js'

export interface BundleCheckInput {
  keyPem?: string | undefined; chainPem?: string | undefined; caPem?: string | undefined; keyPassword?: string | undefined; now?: Date
  /**
   * The 30-day margins of validity_window become warnings (a certificate issued today, as ACME issues
   * them); an expired or not yet valid certificate is still refused.
   */
  ignoreValidityWindow?: boolean | undefined
}
export interface BundleCheckResult {
  warnings: string[]
  /** The private key as unencrypted PKCS#8 PEM when a key was given, else undefined. */
  key: string | undefined
}

export const BUNDLE_RULES = ['pem', 'x509_v3', 'key_format', 'key_password', 'key_algorithm', 'chain_order', 'key_match',
  'chain_complete', 'ca_key_type', 'validity_window', 'san_present'] as const
export type BundleRule = typeof BUNDLE_RULES[number]

type FileName = 'key' | 'chain' | 'ca'

const DAY_MS = 24 * 60 * 60 * 1000
const WINDOW_DAYS = 30
const ACCEPTED_KEYS = ['RSA 2048', 'EC P-256', 'EC P-384']
const WEAK_KEYS = ['RSA 1024']
const KEY_LABELS = ['RSA PRIVATE KEY', 'PRIVATE KEY', 'ENCRYPTED PRIVATE KEY']
const DER_HINT: Record<FileName, string> = {
  key: 'openssl pkey -inform DER -in key.der -out key.pem',
  chain: 'openssl x509 -inform DER -in cert.der -out cert.pem',
  ca: 'openssl x509 -inform DER -in ca.der -out ca.pem',
}

/** The upload field a refusal concerns: one of the files, or the key's password. */
export type BundleField = FileName | 'key_password'

function refuse (rule: BundleRule, field: BundleField, sentence: string): never {
  throw new CulexError('CULEX_ERR_CERT_INVALID', `rule ${rule}: ${sentence}`, { details: { field, rule } })
}

interface Cert { x: X509Certificate, name: string, file: FileName }

export function checkBundle (input: BundleCheckInput): BundleCheckResult {
  const now = input.now ?? new Date()
  const warnings = new Set<string>()
  const keyBlock = input.keyPem === undefined ? undefined : keyBlockOf(input.keyPem)
  const chain = input.chainPem === undefined ? [] : certificatesOf('chain', input.chainPem)
  const ca = input.caPem === undefined ? [] : certificatesOf('ca', input.caPem)
  for (const c of [...chain, ...ca]) checkVersion(c)

  const key = keyBlock === undefined ? undefined : loadKey(keyBlock, input.keyPassword, warnings)
  if (key !== undefined) checkAlgorithm(key, 'the private key', 'key', warnings)
  const leaf = chain[0]
  if (leaf !== undefined) {
    checkAlgorithm(leaf.x.publicKey, `the certificate ${leaf.name}`, 'chain', warnings)
    checkOrder(chain)
    if (key !== undefined && !samePublicKey(leaf.x.publicKey, key)) {
      refuse('key_match', 'key', `the private key does not belong to the certificate ${leaf.name} (the first certificate of chain): give that certificate's key, or put the key's certificate first in chain`)
    }
    const signer = completeChain(chain, ca)
    checkCaKeyType(leaf, chain.length > 1 ? chain[1]! : signer)
    checkLeafDates(leaf, now, input.ignoreValidityWindow === true ? warnings : undefined)
    checkSan(leaf)
  }
  for (const c of [...chain.slice(1), ...ca]) checkCaDates(c, now)
  return { warnings: [...warnings], key: key === undefined ? undefined : exportKeyPem(key) }
}

// --- rule pem: only PEM blocks, the right ones in each file ---

function blocksOf (file: FileName, text: string): PemBlock[] {
  const blocks = pemBlocks(text)
  if (blocks.length === 0) {
    const binary = text.includes('\0') || text.includes('\uFFFD') || /^\s*0/.test(text)
    refuse('pem', file, `${file} is not PEM: it has no "-----BEGIN ...-----" block${binary ? ` (it looks like binary DER; convert it: ${DER_HINT[file]})` : ''}`)
  }
  // What is left once the blocks (in order, without overlap) are cut out, in one pass.
  let outside = ''
  let pos = 0
  for (const b of blocks) {
    const at = text.indexOf(b.pem.slice(0, -1), pos)
    outside += `${text.slice(pos, at)}\n`
    pos = at + b.pem.length - 1
  }
  const stray = (outside + text.slice(pos)).trim()
  if (stray !== '') {
    const excerpt = stray.split(/\r?\n/)[0]!.slice(0, 40)
    refuse('pem', file, `${file} holds text outside its PEM blocks ("${excerpt}"): keep only the -----BEGIN/END----- blocks`)
  }
  blocks.forEach((b, i) => {
    if (!base64Body(b.pem)) refuse('pem', file, `block ${i + 1} of ${file} (${b.label}) is not valid base64: the file is damaged`)
  })
  return blocks
}

/** The base64 between BEGIN and END, skipping RFC 1421 headers (Proc-Type, DEK-Info of traditional encrypted keys). */
function base64Body (pem: string): boolean {
  const lines = pem.trim().split(/\r?\n/).slice(1, -1).filter((line) => !line.includes(':'))
  const body = lines.join('').replace(/\s/g, '')
  return body.length > 0 && body.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(body)
}

function certificatesOf (file: FileName, text: string): Cert[] {
  return blocksOf(file, text).map((b, i) => {
    if (b.label !== 'CERTIFICATE') {
      refuse('pem', file, isPrivateKeyLabel(b.label)
        ? `${file} holds a private key (${b.label}): give it as key; ${file} holds only CERTIFICATE blocks`
        : `${file} holds a ${b.label} block: ${file} holds only CERTIFICATE blocks`)
    }
    try {
      const x = new X509Certificate(b.pem)
      return { x, name: oneLineName(x.subject) || `number ${i + 1} of ${file}`, file }
    } catch (err) {
      return refuse('pem', file, `certificate ${i + 1} of ${file} cannot be parsed (${(err as Error).message})`)
    }
  })
}

function keyBlockOf (text: string): PemBlock {
  const blocks = blocksOf('key', text)
  const keys = blocks.filter((b) => isPrivateKeyLabel(b.label))
  if (keys.length !== 1) {
    refuse('pem', 'key', keys.length === 0
      ? `key holds no private key block (found ${[...new Set(blocks.map((b) => b.label))].join(', ')})`
      : `key holds ${keys.length} private keys: give exactly one`)
  }
  const key = keys[0]!
  // `openssl ecparam -genkey` writes the curve before a SEC1 key; key_format then says how to convert both.
  const other = blocks.find((b) => b !== key && !(b.label === 'EC PARAMETERS' && key.label === 'EC PRIVATE KEY'))
  if (other !== undefined) refuse('pem', 'key', `key holds a ${other.label} block besides the private key: key holds only the private key`)
  return key
}

// --- rule x509_v3 ---

/** The version from the DER: TBSCertificate starts with [0] EXPLICIT INTEGER (A0 03 02 01 vv), absent for v1. */
function x509Version (der: Buffer): number {
  const headerLength = (buf: Buffer, at: number) => (buf[at + 1]! < 0x80 ? 2 : 2 + (buf[at + 1]! & 0x7f))
  const tbs = headerLength(der, 0)
  const first = tbs + headerLength(der, tbs)
  return der[first] === 0xa0 ? der[first + 4]! + 1 : 1
}

function checkVersion (c: Cert): void {
  const version = x509Version(c.x.raw)
  if (version !== 3) refuse('x509_v3', c.file, `the certificate ${c.name} is X.509 version ${version}: reissue it as version 3 (with extensions such as subjectAltName, e.g. openssl x509 -req ... -extfile openssl.cnf -extensions v3_req)`)
}

// --- rules key_format, key_password, key_algorithm ---

function loadKey (block: PemBlock, password: string | undefined, warnings: Set<string>): KeyObject {
  if (!KEY_LABELS.includes(block.label)) refuse('key_format', 'key', keyFormatAdvice(block.label))
  const encrypted = isEncryptedPem(block.pem)
  if (encrypted && password === undefined) refuse('key_password', 'key_password', 'the key is encrypted: give key_password')
  if (!encrypted && password !== undefined) warnings.add('key_password: the key is not encrypted; key_password was ignored')
  try {
    return loadPrivateKey(block.pem, encrypted ? password : undefined, 'key')
  } catch (err) {
    if (encrypted) refuse('key_password', 'key_password', 'key_password does not decrypt the key')
    return refuse('key_format', 'key', `the ${block.label} block cannot be read as a PKCS#1 or PKCS#8 key (${(err as Error).message})`)
  }
}

function keyFormatAdvice (label: string): string {
  const accepted = 'give a PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY) key'
  if (label === 'EC PRIVATE KEY') return `the key is a SEC1 EC key (BEGIN EC PRIVATE KEY); ${accepted}: openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pkcs8.pem`
  if (label === 'OPENSSH PRIVATE KEY') return `the key is in OpenSSH's format; ${accepted}: ssh-keygen -p -m PKCS8 -f KEYFILE`
  return `the key is a ${label} block; ${accepted}: openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pkcs8.pem`
}

function checkAlgorithm (key: KeyObject, what: string, field: FileName, warnings: Set<string>): void {
  const kind = describeKey(key)
  if (WEAK_KEYS.includes(kind)) warnings.add(`key_algorithm: ${kind} is weak (accepted; prefer RSA 2048 or EC P-256)`)
  else if (!ACCEPTED_KEYS.includes(kind)) refuse('key_algorithm', field, `${what} is ${kind}: use RSA 2048 (RSA 1024 is accepted but weak) or EC P-256/P-384`)
}

// --- rules chain_order, chain_complete, ca_key_type ---

function checkOrder (chain: Cert[]): void {
  for (let i = 0; i + 1 < chain.length; i++) {
    const [child, parent] = [chain[i]!, chain[i + 1]!]
    if (!issuedBy(child.x, parent.x)) {
      const reversed = chain.slice(1).every((c, j) => issuedBy(c.x, chain[j]!.x))
      refuse('chain_order', 'chain', reversed
        ? 'chain is reversed (root first): put the leaf first, then the CA that issued it, and so on up to the root'
        : `certificate ${i + 2} of chain (${parent.name}) did not issue certificate ${i + 1} (${child.name}): order chain leaf first, each certificate followed by its issuer`)
    }
    if (!parent.x.ca) refuse('chain_order', 'chain', `certificate ${i + 2} of chain (${parent.name}) signed ${child.name} but is not a CA certificate (basicConstraints CA:TRUE missing)`)
  }
}

let publicRoots: X509Certificate[] | undefined
const publicRootCas = () => (publicRoots ??= rootCertificates.map((pem) => new X509Certificate(pem)))

/** The CA that signed the chain's last certificate: itself when self-signed, else from ca or Node's public roots. */
function completeChain (chain: Cert[], ca: Cert[]): Cert {
  const last = chain[chain.length - 1]!
  if (isSelfSigned(last.x)) return last
  const issuer = ca.find((c) => issuedBy(last.x, c.x))
  if (issuer !== undefined) return issuer
  const root = publicRootCas().find((c) => issuedBy(last.x, c))
  if (root !== undefined) return { x: root, name: oneLineName(root.subject), file: 'ca' }
  const missing = oneLineName(last.x.issuer)
  const impostor = ca.find((c) => c.x.subject === last.x.issuer)
  if (impostor !== undefined) refuse('chain_complete', 'ca', `ca holds a certificate named ${missing}, but it did not sign ${last.name} (another key): give the CA that issued it`)
  refuse('chain_complete', 'chain', `chain ends with ${last.name}, issued by ${missing}, which is in neither chain nor ca: append the certificate of ${missing} to chain, or give it as ca`)
}

const keyFamily = (key: KeyObject) => (key.asymmetricKeyType === 'rsa-pss' ? 'rsa' : key.asymmetricKeyType ?? 'unknown').toUpperCase()

function checkCaKeyType (leaf: Cert, signer: Cert): void {
  const [mine, theirs] = [keyFamily(leaf.x.publicKey), keyFamily(signer.x.publicKey)]
  if (mine !== theirs) {
    refuse('ca_key_type', 'chain', `the certificate ${leaf.name} has an ${mine} key but its signing CA ${signer.name} has an ${theirs} key: the key types must match (issue it from an ${mine} CA, or use an ${theirs} key)`)
  }
}

// --- rules validity_window, san_present ---

/** With `lenient`, the 30-day margins are added to it as warnings instead of refusing. */
function checkLeafDates (leaf: Cert, now: Date, lenient?: Set<string>): void {
  const notBefore = new Date(leaf.x.validFrom)
  const notAfter = new Date(leaf.x.validTo)
  const t = now.getTime()
  if (t > notAfter.getTime()) refuse('validity_window', 'chain', `the certificate ${leaf.name} expired on ${formatDate(notAfter)}`)
  if (t < notBefore.getTime()) refuse('validity_window', 'chain', `the certificate ${leaf.name} is not valid before ${formatDate(notBefore)}`)
  const margin = (sentence: string) => {
    if (!lenient) refuse('validity_window', 'chain', sentence)
    lenient.add(`rule validity_window overridden: ${sentence}`)
  }
  if (t < notBefore.getTime() + WINDOW_DAYS * DAY_MS) {
    margin(`the certificate ${leaf.name} became valid on ${formatDate(notBefore)}, less than ${WINDOW_DAYS} days ago: import it from ${formatDate(new Date(notBefore.getTime() + WINDOW_DAYS * DAY_MS))}, or override the rule (ignore_validity_window)`)
  }
  if (t > notAfter.getTime() - WINDOW_DAYS * DAY_MS) {
    margin(`the certificate ${leaf.name} expires on ${formatDate(notAfter)}, in less than ${WINDOW_DAYS} days: renew it and import the new one`)
  }
}

function checkCaDates (c: Cert, now: Date): void {
  const notBefore = new Date(c.x.validFrom)
  const notAfter = new Date(c.x.validTo)
  if (now.getTime() > notAfter.getTime()) refuse('validity_window', c.file, `the CA certificate ${c.name} expired on ${formatDate(notAfter)}`)
  if (now.getTime() < notBefore.getTime()) refuse('validity_window', c.file, `the CA certificate ${c.name} is not valid before ${formatDate(notBefore)}`)
}

function checkSan (leaf: Cert): void {
  const names = (leaf.x.subjectAltName ?? '').split(', ')
  if (!names.some((n) => n.startsWith('DNS:') || n.startsWith('IP Address:'))) {
    refuse('san_present', 'chain', `the certificate ${leaf.name} has no subjectAltName with a DNS name or IP address (clients check the server's name there, not in the CN): reissue it with e.g. subjectAltName = DNS:mqtt.example.com`)
  }
}
