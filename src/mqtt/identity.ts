// Who a client is at CONNECT: the user name and client id it goes on with, taken from what the transport
// proved (TLS-PSK identity, client certificate) before what the client merely claims in CONNECT.
import type { CulexConfig } from '../config/schema.js'
import { RC } from './reason-codes.js'
import { certIdentity, type CertIdentity, type TlsInfo } from './tls-info.js'

export type IdentityResult =
  | { ok: true, value: string | undefined }
  | { ok: false, rc: number, reason: string }

const ok = (value: string | undefined): IdentityResult => ({ ok: true, value })

/**
 * The user name: a TLS-PSK identity wins over CONNECT's (as Mosquitto's use_identity_as_username discards
 * it); with `mqtt.peer_cert_as_username` on a listener that asks for client certificates, the certificate's,
 * and a client that has no such certificate is refused rather than allowed to name itself.
 */
export function resolveUsername (mqtt: CulexConfig['mqtt'], tls: TlsInfo | undefined, claimed: string | undefined): IdentityResult {
  if (tls?.pskIdentity !== undefined) return ok(tls.pskIdentity)
  return fromCertificate(mqtt.peer_cert_as_username, 'peer_cert_as_username', RC.BAD_USER_NAME_OR_PASSWORD, tls) ?? ok(claimed)
}

/** The client id a certificate dictates (`mqtt.peer_cert_as_clientid`), undefined when none does, or a refusal. */
export function resolveCertClientId (mqtt: CulexConfig['mqtt'], tls: TlsInfo | undefined): IdentityResult {
  return fromCertificate(mqtt.peer_cert_as_clientid, 'peer_cert_as_clientid', RC.CLIENT_IDENTIFIER_NOT_VALID, tls) ?? ok(undefined)
}

/** undefined: the certificate has no say (option disabled, no TLS, or a listener that asks for no certificate). */
function fromCertificate (kind: CertIdentity, key: string, rc: number, tls: TlsInfo | undefined): IdentityResult | undefined {
  if (kind === 'disabled' || tls === undefined) return undefined
  const value = certIdentity(kind, tls.peerCert)
  if (value !== undefined) return ok(value)
  if (tls.peerCert?.proxied && kind !== 'cn') return { ok: false, rc, reason: `mqtt.${key} = ${kind} and the client's TLS ended at a proxy, whose PROXY protocol header gives only the certificate's common name` }
  if (tls.peerCert) return { ok: false, rc, reason: `mqtt.${key} = ${kind} and the client certificate has no ${kind === 'cn' ? 'common name' : kind}` }
  if (!tls.certRequested) return undefined
  if (tls.proxied) return { ok: false, rc, reason: `mqtt.${key} = ${kind} and the proxy that terminated the client's TLS passed no verified client certificate in its PROXY protocol header` }
  return { ok: false, rc, reason: `mqtt.${key} = ${kind} and the client sent no certificate (ssl_options.fail_if_no_peer_cert = false)` }
}

/** `${clientid}` and `${username}` in a template, each expanded once: a client id holding the text `${username}` stays that text. */
export function expandIdentity (template: string, client: { clientId: string, username?: string | undefined }): string {
  return template.replace(/\$\{(clientid|username)\}/g, (_, name: string) => name === 'clientid' ? client.clientId : client.username ?? '')
}

/**
 * U+0001..U+001F and U+007F..U+009F: MQTT 5 says a UTF-8 string SHOULD NOT hold them and a receiver MAY
 * treat them as malformed [MQTT-1.5.4-2 and the list after it]. Refused in client ids and user names, which
 * end up in logs, ACL placeholders and the management API.
 */
export function hasControlCharacter (text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0001-\u001f\u007f-\u009f]/.test(text)
}
