// PEM files as people have them: certificates and keys in one file, in any order, with text around them.
import { X509Certificate } from 'node:crypto'
import { CulexError } from '../errors.js'

export interface PemBlock { label: string, pem: string }

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g
const END = /-----END ([A-Z0-9 ]+)-----/g

/**
 * Each BEGIN line with the first END line of its label after it. Where the END lines are is found
 * once: searching the rest of the text for each BEGIN would take quadratic time on a file of BEGIN
 * lines without END (a megabyte of them blocked the process for seconds).
 */
export function pemBlocks (text: string): PemBlock[] {
  const ends = new Map<string, number[]>()
  for (const m of text.matchAll(END)) {
    const list = ends.get(m[1]!)
    if (list) list.push(m.index)
    else ends.set(m[1]!, [m.index])
  }
  const blocks: PemBlock[] = []
  const begin = new RegExp(BEGIN.source, 'g')
  for (let m = begin.exec(text); m !== null; m = begin.exec(text)) {
    const label = m[1]!
    const end = firstAtOrAfter(ends.get(label) ?? [], begin.lastIndex)
    if (end === undefined) {
      begin.lastIndex = m.index + 1
      continue
    }
    const stop = end + `-----END ${label}-----`.length
    blocks.push({ label, pem: `${text.slice(m.index, stop)}\n` })
    begin.lastIndex = stop
  }
  return blocks
}

/** The first of the ascending positions at or after `from`. */
function firstAtOrAfter (positions: number[], from: number): number | undefined {
  let lo = 0
  let hi = positions.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (positions[mid]! < from) lo = mid + 1
    else hi = mid
  }
  return positions[lo]
}

export const isPrivateKeyLabel = (label: string) => label.endsWith('PRIVATE KEY')

export function certificateBlocks (text: string): string[] {
  return pemBlocks(text).filter((b) => b.label === 'CERTIFICATE').map((b) => b.pem)
}

export function parseCertificates (text: string, what = 'file'): X509Certificate[] {
  return certificateBlocks(text).map((pem, i) => {
    try {
      return new X509Certificate(pem)
    } catch (err) {
      throw new CulexError('CULEX_ERR_CERT_PARSE', `certificate ${i + 1} in the ${what} cannot be parsed (${(err as Error).message})`, { cause: err })
    }
  })
}

/** True when `child` names `parent` as its issuer and `parent`'s key verifies its signature. */
export function issuedBy (child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey)
  } catch {
    // A key Node cannot verify with: not an issuer it can confirm.
    return false
  }
}

export const isSelfSigned = (cert: X509Certificate) => issuedBy(cert, cert)

/** One-line distinguished name, "CN=a, O=b" (Node prints one attribute a line). */
export function oneLineName (name: string): string {
  return name.split('\n').filter(Boolean).join(', ')
}

/** A leaf followed by the intermediate CAs of caText (roots left out: peers must already trust them). */
export function fullChain (leafPem: string, caText: string): string {
  const intermediates = certificateBlocks(caText).filter((pem) => !isSelfSigned(new X509Certificate(pem)))
  return [leafPem.trimEnd() + '\n', ...intermediates].join('')
}
