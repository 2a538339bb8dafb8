// mqtt.client_attrs_init and mqtt.clientid_override (EMQX 5.7+): client attributes, and a replacement
// client id, computed at CONNECT from variform expressions over what the client presented: clientid,
// username, the certificate's cn, dn and SANs (cert_san.dns, .ip, .email, .uri: lists), peersni, peerhost,
// user_property.NAME (MQTT 5 CONNECT User Properties). Attributes are ${client_attrs.NAME} in ACL rules and
// backend requests; authenticators may add more (theirs win, as EMQX merges them).
import { X509Certificate } from 'node:crypto'
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { PeerCertificate, TlsInfo } from './tls-info.js'
import { compile, render, VariformError, type Bindings, type Expression, type Value } from './variform.js'

type MqttConfig = CulexConfig['mqtt']

/** What the expressions may read of a connecting client. */
export interface AttrSource {
  clientId: string
  username: string | undefined
  remoteAddress: string
  remotePort: number
  listener: string
  tls: TlsInfo | undefined
  userProperties: Record<string, string | string[]> | undefined
  attrs?: Record<string, string>
}

interface Compiled { attrs: { name: string, expression: Expression }[], override: Expression | null }

// Compiled once per configuration (the schema has checked each expression already).
const compiled = new WeakMap<MqttConfig, Compiled>()

function compiledOf (mqtt: MqttConfig): Compiled {
  let c = compiled.get(mqtt)
  if (!c) {
    c = {
      attrs: mqtt.client_attrs_init.map((a) => ({ name: a.set_as_attr, expression: compile(a.expression) })),
      override: mqtt.clientid_override === 'disabled' ? null : compile(mqtt.clientid_override),
    }
    compiled.set(mqtt, c)
  }
  return c
}

/** Whether CONNECT has anything to compute. */
export const hasClientExpressions = (mqtt: MqttConfig): boolean => mqtt.client_attrs_init.length > 0 || mqtt.clientid_override !== 'disabled'

function sans (cert: PeerCertificate): Record<string, string[]> {
  const out: Record<string, string[]> = { dns: [], ip: [], email: [], uri: [] }
  let text: string | undefined
  try {
    text = new X509Certificate(cert.der).subjectAltName
  } catch { /* none */ }
  for (const entry of (text ?? '').split(/,\s*/)) {
    const at = entry.indexOf(':')
    if (at < 0) continue
    const kind = entry.slice(0, at)
    const value = entry.slice(at + 1).replace(/^"|"$/g, '')
    if (kind === 'DNS') out.dns!.push(value)
    else if (kind === 'IP Address') out.ip!.push(value)
    else if (kind === 'email') out.email!.push(value)
    else if (kind === 'URI') out.uri!.push(value)
  }
  return out
}

function bindings (source: AttrSource): Bindings {
  let san: Record<string, string[]> | undefined
  const cert = source.tls?.peerCert
  return (name): Value | undefined => {
    switch (name) {
      case 'clientid': return source.clientId
      case 'username': return source.username ?? ''
      case 'peerhost': return source.remoteAddress
      case 'peerport': return String(source.remotePort)
      case 'listener': return source.listener
      case 'zone': return 'default'
      case 'cn': return cert?.cn
      case 'dn': return cert?.subject
      case 'peersni': return source.tls?.sni || undefined
    }
    if (name.startsWith('cert_san.') && cert) return (san ??= sans(cert))[name.slice('cert_san.'.length)]
    if (name.startsWith('user_property.')) {
      const value = source.userProperties?.[name.slice('user_property.'.length)]
      return Array.isArray(value) ? value.at(-1) : value
    }
    if (name.startsWith('client_attrs.')) {
      const key = name.slice('client_attrs.'.length)
      return source.attrs && Object.hasOwn(source.attrs, key) ? source.attrs[key] : undefined
    }
    return undefined
  }
}

function logFailure (log: Log, err: unknown, fields: Record<string, unknown>, what: string): void {
  if (!(err instanceof VariformError)) throw err
  // An unbound variable (no certificate, no such user property) is expected of some clients: debug only.
  if (/is not bound$/.test(err.message)) log.debug({ ...fields, reason: err.message }, `${what} not set`)
  else log.warning({ ...fields, reason: err.message }, `${what} not set: the expression failed`)
}

/** The attributes client_attrs_init gives this client (an empty or failing expression sets none). */
export function initialAttrs (mqtt: MqttConfig, source: AttrSource, log: Log): Record<string, string> {
  const attrs: Record<string, string> = {}
  const lookup = bindings(source)
  for (const { name, expression } of compiledOf(mqtt).attrs) {
    try {
      const value = render(expression, lookup)
      if (value !== '') attrs[name] = value
    } catch (err) {
      logFailure(log, err, { clientid: source.clientId, set_as_attr: name, expression: expression.text }, `client attribute ${name}`)
    }
  }
  return attrs
}

/** The client id clientid_override gives (with client_attrs.* bound), or undefined to keep the client's. */
export function overriddenClientId (mqtt: MqttConfig, source: AttrSource, log: Log): string | undefined {
  const expression = compiledOf(mqtt).override
  if (!expression) return undefined
  try {
    const value = render(expression, bindings(source))
    if (value === '') log.warning({ clientid: source.clientId, expression: expression.text }, 'mqtt.clientid_override gave an empty string: the client id is kept')
    return value === '' ? undefined : value
  } catch (err) {
    logFailure(log, err, { clientid: source.clientId, expression: expression.text }, 'mqtt.clientid_override')
    return undefined
  }
}
