// What the core knows about a TLS connection, for the authentication chain, ACL placeholders and the API.
import { createHash } from 'node:crypto'

export interface PeerCertificate {
  /** Subject DN, `CN=client,O=Example`. */
  subject: string
  /** Common name of the subject, '' when absent. */
  cn: string
  issuer: string
  /** Serial number, upper-case hex. */
  serial: string
  /** SHA-256 fingerprint, `AB:CD:...`. */
  fingerprint: string
  pem: string
  der: Buffer
  notAfter: string
  /**
   * Verified by a proxy that terminated the client's TLS and passed only the common name (PROXY protocol v2
   * PP2_SUBTYPE_SSL_CN): the other fields are empty.
   */
  proxied?: true
}

export interface TlsInfo {
  /** `TLSv1.3` */
  version: string
  /** OpenSSL name of the cipher suite. */
  cipher: string
  /** Server name the client asked for, '' when none. */
  sni: string
  /** Present only when the client sent a certificate that verified. */
  peerCert: PeerCertificate | undefined
  /** The listener asked for a client certificate (verify_peer), whether or not the client sent one. */
  certRequested?: boolean
  /** The managed certificate bundle the handshake used, `namespace/name` (global for the global namespace). */
  bundle?: string
  /** The TLS-PSK identity the client authenticated with. */
  pskIdentity?: string
  /** The client's TLS ended at a proxy, which passed these facts in its PROXY protocol v2 header. */
  proxied?: boolean
}

export type CertIdentity = 'disabled' | 'cn' | 'dn' | 'crt' | 'pem' | 'md5'

/** EMQX peer_cert_as_username / peer_cert_as_clientid: the identity a certificate gives, or undefined. */
export function certIdentity (kind: CertIdentity, cert: PeerCertificate | undefined): string | undefined {
  if (!cert || kind === 'disabled') return undefined
  if (cert.proxied && kind !== 'cn') return undefined
  switch (kind) {
    case 'cn': return cert.cn || undefined
    case 'dn': return cert.subject
    case 'crt': return cert.der.toString('base64')
    case 'pem': return cert.pem
    case 'md5': return createHash('md5').update(cert.pem).digest('hex')
  }
}
