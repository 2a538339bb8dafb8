// Why a TLS handshake failed, in words a person can act on. One reason code per row, counted in metrics.

export type TlsFailure =
  | 'no_peer_cert' | 'unknown_ca' | 'cert_expired' | 'cert_not_yet_valid' | 'bad_key_usage' | 'chain_too_deep'
  | 'bad_peer_cert' | 'cert_revoked' | 'version_mismatch' | 'cipher_mismatch' | 'handshake_timeout' | 'not_tls'
  | 'client_rejected_server_cert' | 'connection_reset' | 'other'
  | 'crl_unavailable' | 'ca_not_registered' | 'ca_inactive' | 'device_inactive' | 'no_client_ca'

export interface TlsFailureReport { reason: TlsFailure; detail: string }

const VERIFY_ERRORS: Record<string, TlsFailureReport> = {
  UNABLE_TO_GET_ISSUER_CERT: { reason: 'unknown_ca', detail: 'the client certificate is not signed by a CA in ssl_options.cacertfile' },
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: { reason: 'unknown_ca', detail: 'the client certificate is not signed by a CA in ssl_options.cacertfile' },
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: { reason: 'unknown_ca', detail: 'the client certificate is not signed by a CA in ssl_options.cacertfile' },
  SELF_SIGNED_CERT_IN_CHAIN: { reason: 'unknown_ca', detail: 'the client certificate chains to a root CA that is not in ssl_options.cacertfile' },
  DEPTH_ZERO_SELF_SIGNED_CERT: { reason: 'unknown_ca', detail: 'the client certificate is self-signed and not in ssl_options.cacertfile' },
  CERT_HAS_EXPIRED: { reason: 'cert_expired', detail: 'the client certificate has expired' },
  CERT_NOT_YET_VALID: { reason: 'cert_not_yet_valid', detail: 'the client certificate is not valid yet (check its notBefore and the clocks)' },
  CERT_REVOKED: { reason: 'cert_revoked', detail: 'the client certificate is revoked (ssl_options.crlfile)' },
  UNABLE_TO_GET_CRL: { reason: 'cert_revoked', detail: 'no CRL in ssl_options.crlfile covers the client certificate\'s issuer' },
  CERT_SIGNATURE_FAILURE: { reason: 'bad_peer_cert', detail: 'the client certificate signature does not verify' },
  INVALID_PURPOSE: { reason: 'bad_key_usage', detail: 'the client certificate is not meant for client authentication (Extended Key Usage)' },
  CERT_CHAIN_TOO_LONG: { reason: 'chain_too_deep', detail: 'the client certificate chain is longer than ssl_options.depth allows' },
}

/** A verify_peer listener with no CA configured trusts nothing (never the system's public roots). */
export const NO_CLIENT_CA: TlsFailureReport = {
  reason: 'no_client_ca',
  detail: 'the listener has verify = verify_peer but no CA for client certificates (ssl_options.cacertfile, the managed bundle\'s ca.pem or the device registry), so every client certificate is refused; the system\'s public roots are never trusted for clients',
}

const NOT_TLS: TlsFailureReport = {
  reason: 'not_tls',
  detail: 'the client did not start a TLS handshake (plain MQTT, or other data that is not TLS, sent to a TLS port): use the tcp port (1883) or enable TLS in the client',
}

/** From `tlsSocket.authorizationError` (the OpenSSL verify result of the client certificate). */
export function describeVerifyError (code: string): TlsFailureReport {
  return VERIFY_ERRORS[code] ?? { reason: 'bad_peer_cert', detail: `the client certificate failed verification (${code})` }
}

/** From a `tlsClientError`: errors raised while the handshake was running. */
export function describeHandshakeError (err: Error & { code?: string }, bytesReceived: number): TlsFailureReport {
  const code = err.code ?? ''
  const text = `${code} ${err.message}`.toLowerCase()
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
    return bytesReceived === 0
      ? { reason: 'handshake_timeout', detail: 'the client sent nothing within ssl_options.handshake_timeout' }
      : { reason: 'handshake_timeout', detail: 'the client did not finish the TLS handshake within ssl_options.handshake_timeout' }
  }
  // OpenSSL's answer when the first record is not TLS at all (its version field is not 3.x).
  if (/wrong.version.number|packet.length.too.long|https.proxy.request/.test(text)) return NOT_TLS
  if (/unsupported.protocol|no.protocols.available|version.too.low|version.too.high|protocol.version/.test(text)) {
    return { reason: 'version_mismatch', detail: `the client offers no TLS version that ssl_options.versions allows (${err.message})` }
  }
  if (/no.shared.cipher|handshake.failure|no.suitable.signature/.test(text)) {
    return { reason: 'cipher_mismatch', detail: `the client offers no cipher suite that ssl_options.ciphers allows (${err.message})` }
  }
  if (/alert.unknown.ca|alert.bad.certificate|alert.certificate.unknown|alert.certificate.expired|alert.decrypt.error/.test(text)) {
    return { reason: 'client_rejected_server_cert', detail: `the client refused the server certificate (${err.message}): give it the CA that signed ssl_options.certfile, and connect with a host name in the certificate's SANs` }
  }
  if (/http.request/.test(text)) return { reason: 'not_tls', detail: 'the client sent plain HTTP to a TLS port' }
  if (code === 'ECONNRESET' || /socket hang up|unexpected eof/.test(text)) {
    return { reason: 'connection_reset', detail: 'the client closed the connection during the handshake (often: it does not trust the server certificate)' }
  }
  return { reason: 'other', detail: err.message }
}

/** The first byte of a connection, read behind a PROXY header, that is not a TLS record (type 0x16). */
export function describeNotTls (first: number): TlsFailureReport {
  if ((first & 0xf0) === 0x10) return { reason: 'not_tls', detail: 'the client sent plain MQTT to a TLS port: use the tcp port (1883) or enable TLS in the client' }
  if (first === 0x47 || first === 0x50) return { reason: 'not_tls', detail: 'the client sent plain HTTP to a TLS port' }
  return { reason: 'not_tls', detail: `the client did not start a TLS handshake (first byte 0x${first.toString(16).padStart(2, '0')})` }
}
