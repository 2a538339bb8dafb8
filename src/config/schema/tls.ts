// TLS: ssl_options of ssl/wss listeners, OCSP, crl_cache and psk_authentication.
import { z } from 'zod'
import { bool, duration, int } from '../types.js'
import { section, stringList } from './marks.js'

export const TLS_VERSIONS = ['tlsv1.3', 'tlsv1.2', 'tlsv1.1', 'tlsv1'] as const

const sslOptionsShape = {
  cacertfile: z.string().default('certs/ca.pem').describe('PEM file of the CAs trusted for client certificates (two-way TLS).'),
  certfile: z.string().default('certs/server.pem').describe('PEM file of the server certificate, followed by its intermediates (a fullchain.pem).'),
  keyfile: z.string().default('certs/server.key').describe('PEM file of the server private key (PKCS#1, PKCS#8 or SEC1).'),
  password: z.string().optional().describe('Passphrase of an encrypted keyfile.'),
  verify: z.enum(['verify_none', 'verify_peer']).default('verify_none').describe('verify_peer asks clients for a certificate and refuses an invalid one.'),
  fail_if_no_peer_cert: bool().default(false).describe('With verify_peer: refuse clients that send no certificate.'),
  depth: int().pipe(z.number().min(0)).default(10).describe('Most intermediate CAs allowed between a client certificate and a trusted CA.'),
  versions: z.array(z.enum(TLS_VERSIONS)).min(1).default(['tlsv1.3', 'tlsv1.2']).describe('TLS versions offered; tlsv1.1 and tlsv1 only when listed.'),
  ciphers: stringList().default([]).describe('Cipher suites, OpenSSL or IANA names; empty = OpenSSL defaults. TLS 1.3 suites apply to TLS 1.3 only.'),
  honor_cipher_order: bool().default(true).describe('Prefer the server\'s cipher order over the client\'s.'),
  reuse_sessions: bool().default(true).describe('Allow TLS session resumption: session tickets, and session ids when versions leave out tlsv1.3.'),
  handshake_timeout: duration().prefault('15s').describe('Close a connection whose TLS handshake has not finished by then.'),
  partial_chain: z.union([z.boolean(), z.enum(['true', 'false', 'two_cacerts_from_cacertfile', 'cacert_from_cacertfile'])])
    .default(false).transform((v) => v !== false && v !== 'false')
    .describe('Trust an intermediate CA in cacertfile as an anchor, without its root.'),
  crlfile: z.string().default('').describe('PEM file of certificate revocation lists (Mosquitto\'s crlfile): a revoked client certificate is refused.'),
  verify_peer_ext_key_usage: z.string().default('').describe('Require this Extended Key Usage in client certificates: clientAuth, serverAuth or an OID.'),
  secure_renegotiate: bool().default(true).describe('Accepted for EMQX compatibility; Culex never allows insecure renegotiation.'),
  client_renegotiation: bool().default(true).describe('Let TLS 1.2 clients start a renegotiation (Node allows 3 per 10 minutes); false refuses it. TLS 1.3 has none.'),
  dhfile: z.string().optional().describe('PEM file of Diffie-Hellman parameters, enabling the DHE cipher suites of TLS 1.2 (without it only ECDHE ones are offered).'),
  cacerts: bool().default(false).describe('Accepted for EMQX compatibility (deprecated there since 5.1.4); no effect: cacertfile names the CAs.'),
  user_lookup_fun: z.string().default('emqx_tls_psk:lookup').describe('Accepted for EMQX compatibility (an Erlang function name); no effect: psk_authentication supplies the PSK lookup.'),
  hibernate_after: duration().prefault('5s').describe('Accepted for EMQX compatibility (an Erlang process setting); no effect.'),
  gc_after_handshake: bool().default(false).describe('Accepted for EMQX compatibility (an Erlang process setting); no effect.'),
  log_level: z.string().default('notice').describe('Accepted for EMQX compatibility; handshake failures are logged at warning.'),
  managed_certs: z.array(z.strictObject({
    namespace: z.string().optional().describe('Namespace of the bundle; omitted = global.'),
    bundle_name: z.string().describe('Name of a bundle in the certificate store (/api/v5/certs).'),
    sni: z.string().default('').describe('Server name that selects this bundle: exact, or *.example.com for one label.'),
  })).default([]).describe('Managed certificate bundles instead of certfile/keyfile: the SNI picks one, the first is the default.'),
}

export const sslOptions = section(sslOptionsShape)

export const ocsp = section({
  enable_ocsp_stapling: bool().default(false).describe('Staple the OCSP response for the server certificate to handshakes whose client asks for it (openssl s_client -status).'),
  responder_url: z.string().default('').describe('HTTP URL of the OCSP responder for the server certificate.'),
  issuer_pem: z.string().default('').describe('PEM file of the CA that issued the server certificate (OCSP requests name it).'),
  refresh_interval: duration().prefault('5m').describe('How often the OCSP response is fetched again; a failed fetch keeps the last good response until it expires.'),
  refresh_http_timeout: duration().prefault('15s').describe('Timeout of one request to the OCSP responder.'),
})

// ssl listeners only (EMQX): OCSP stapling, CRL distribution points and the device-certificate registry.
export const sslListenerOptions = section({
  ...sslOptionsShape,
  ocsp,
  enable_crl_check: bool().default(false).describe('With verify_peer: fetch the CRLs named in client certificates\' CRL distribution points (HTTP, cached, see crl_cache) and refuse revoked certificates, and those whose status cannot be determined (as EMQX): a certificate without a distribution point needs crlfile or a cached CRL of its issuer.'),
  device_registry: bool().default(false).describe('With verify_peer: admit client certificates only from CAs registered and active in the device-certificate registry (/api/v5/ca_certs), which also become trusted; each device certificate is registered on its first connection and can be deactivated.'),
})

export const crlCache = section({
  refresh_interval: duration().prefault('15m').describe('How often a cached CRL is fetched again from its distribution point; a failed fetch is logged and the last good CRL kept.'),
  http_timeout: duration().prefault('15s').describe('Timeout of one CRL fetch.'),
  capacity: int().pipe(z.number().min(1)).default(100).describe('Most CRL distribution points cached; the least recently used goes first.'),
})

export const pskAuthentication = section({
  enable: bool().default(false).describe('TLS-PSK on the ssl listeners (list PSK cipher suites in their ciphers and versions = [tlsv1.2]).'),
  init_file: z.string().default('').describe('File of PSKIdentity<separator>SharedSecret lines; a secret of hex digits is decoded, any other is taken as text.'),
  separator: z.string().min(1).default(':').describe('Separator between identity and secret in init_file.'),
  chunk_size: int().pipe(z.number().min(1)).default(50).describe('Accepted for EMQX compatibility (its import batch size); no effect.'),
})
