// PEM files as people have them: certificates and keys in one file, in any order, with text around them.
import { X509Certificate } from 'node:crypto'

export interface PemBlock { label: string, pem: string }

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g

export function pemBlocks (text: string): PemBlock[] {
  return [...text.matchAll(BLOCK)].map((m) => ({ label: m[1]!, pem: `${m[0]}\n` }))
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
      throw new Error(`certificate ${i + 1} in the ${what} cannot be parsed (${(err as Error).message})`, { cause: err })
    }
  })
}

/** True when `child` names `parent` as its issuer and `parent`'s key verifies its signature. */
export function issuedBy (child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey)
  } catch {
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
