// Path validation as `openssl verify -CAfile` does it, with reasons a person can act on: from the leaf,
// through intermediates in the certificate file or the CA file, to a self-signed root in the CA file.
import type { X509Certificate } from 'node:crypto'
import { isSelfSigned, oneLineName, parseCertificates } from './pem.js'

export interface VerifyOptions {
  caPem: string
  /** The leaf first, optionally followed by intermediates (a fullchain.pem). */
  certPem: string
  /** Check validity at this time instead of now. */
  at?: Date
}

export interface VerifyResult {
  ok: boolean
  reason?: string
  /** Subjects from the leaf up to where the path ended. */
  path: string[]
}

const MAX_DEPTH = 10

export const formatDate = (d: Date) => d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
const subjectOf = (c: X509Certificate) => oneLineName(c.subject)

function dateProblem (cert: X509Certificate, at: Date): string | undefined {
  const notBefore = new Date(cert.validFrom)
  const notAfter = new Date(cert.validTo)
  if (at.getTime() > notAfter.getTime()) return `${subjectOf(cert)} expired on ${formatDate(notAfter)}`
  if (at.getTime() < notBefore.getTime()) return `${subjectOf(cert)} is not valid before ${formatDate(notBefore)}`
  return undefined
}

function signatureVerifies (child: X509Certificate, parent: X509Certificate): boolean {
  // A key Node cannot verify with: the signature is not confirmed.
  try { return child.verify(parent.publicKey) } catch { return false }
}

export function verifyChain (options: VerifyOptions): VerifyResult {
  const at = options.at ?? new Date()
  const [leaf, ...extra] = parseCertificates(options.certPem, 'certificate file')
  const anchors = parseCertificates(options.caPem, 'CA file')
  if (leaf === undefined) return { ok: false, reason: 'the certificate file holds no certificate', path: [] }
  if (anchors.length === 0) return { ok: false, reason: 'the CA file holds no certificate', path: [] }
  const isAnchor = (c: X509Certificate) => anchors.some((a) => a.fingerprint256 === c.fingerprint256)
  const pool = [...extra, ...anchors]
  const path: string[] = []
  const fail = (reason: string): VerifyResult => ({ ok: false, reason, path })

  let current = leaf
  for (let depth = 0; depth <= MAX_DEPTH; depth++) {
    path.push(subjectOf(current))
    const problem = dateProblem(current, at)
    if (problem !== undefined) return fail(problem)
    if (isSelfSigned(current)) {
      return isAnchor(current) ? { ok: true, path } : fail(`${subjectOf(current)} is self-signed and not in the CA file`)
    }
    const issuer = oneLineName(current.issuer)
    const named = pool.filter((c) => c !== current && current.checkIssued(c))
    if (named.length === 0) {
      return fail(isAnchor(current)
        ? `the CA file holds ${subjectOf(current)} but not the root that signed it (issuer ${issuer}); add that root to the CA file`
        : `signed by an unknown CA (issuer ${issuer})`)
    }
    const parent = named.find((c) => signatureVerifies(current, c))
    if (parent === undefined) return fail(`signature does not verify: ${subjectOf(current)} names ${issuer} as its issuer, but was not signed by its key`)
    if (!parent.ca) return fail(`the issuer ${subjectOf(parent)} is not a CA certificate (basicConstraints CA:TRUE missing)`)
    current = parent
  }
  return fail(`the chain is longer than ${MAX_DEPTH} certificates`)
}
