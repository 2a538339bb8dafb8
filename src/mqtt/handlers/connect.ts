// CONNECT (spec 3.1): checked in wire order, then authenticated, then the session is attached.
import { isUtf8 } from 'node:buffer'
import { randomBytes } from 'node:crypto'
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet'
import { CulexError } from '../../errors.js'
import type { Channel } from '../channel.js'
import { NEVER_EXPIRES } from '../store/session-record.js'
import { runAuthenticate, type AuthResult, type ClientInfo, type EnhancedAuthStep } from '../hooks.js'
import { setLongTimeout } from '../long-timeout.js'
import { createMessage } from '../message.js'
import { RC, describeReason, v3ConnackCode } from '../reason-codes.js'
import { isMalformedString, isSysTopic, topicNameError } from '../topic.js'
import { expandIdentity, hasControlCharacter, resolveCertClientId, resolveUsername } from '../identity.js'
import { ownerRefusal, reauthorize } from '../resume.js'
import { hasClientExpressions, initialAttrs, overriddenClientId, type AttrSource } from '../client-attrs.js'

/** The attributes of a client that has none: shared (and frozen: a client's attributes are replaced, never changed). */
const NO_ATTRS: Record<string, string> = Object.freeze({})

type ConnackProps = NonNullable<IConnackPacket['properties']>

/** Properties of a packet that has none (MQTT 3): shared, read only. */
const NO_PROPS: Readonly<ConnackProps & NonNullable<IConnectPacket['properties']>> = Object.freeze({})

export function handleConnect (channel: Channel, packet: IConnectPacket): void | Promise<void> {
  channel.state = 'connecting'
  channel.protocolVersion = packet.protocolVersion ?? 4
  const refusal = checkConnect(channel, packet)
  if (refusal) return refuse(channel, refusal.rc, refusal.reason)

  const mqtt = channel.core.config.mqtt
  const tls = channel.transport.tls
  const cert = tls?.peerCert
  const named = resolveUsername(mqtt, tls, packet.username)
  if (!named.ok) return refuse(channel, named.rc, named.reason)
  const certId = resolveCertClientId(mqtt, tls)
  if (!certId.ok) return refuse(channel, certId.rc, certId.reason)
  const username = named.value
  const chosenId = certId.value ?? (mqtt.use_username_as_clientid ? username : undefined)
  const assigned = chosenId === undefined && packet.clientId === '' ? `culex-${randomBytes(8).toString('hex')}` : undefined
  let clientId = chosenId ?? assigned ?? packet.clientId
  // As EMQX: attributes once the client id and user name are settled, then the id override, which may read them.
  let attrs: Record<string, string> = NO_ATTRS
  if (hasClientExpressions(mqtt)) {
    const source: AttrSource = {
      clientId, username, remoteAddress: channel.transport.remoteAddress, remotePort: channel.transport.remotePort,
      listener: channel.listener.id, tls, userProperties: packet.properties?.userProperties,
    }
    attrs = initialAttrs(mqtt, source, channel.core.log)
    const overridden = overriddenClientId(mqtt, { ...source, attrs }, channel.core.log)
    if (overridden !== undefined) {
      if (hasControlCharacter(overridden) || Buffer.byteLength(overridden) > mqtt.max_clientid_len) {
        return refuse(channel, RC.CLIENT_IDENTIFIER_NOT_VALID, 'mqtt.clientid_override gave a client identifier with a control character or longer than mqtt.max_clientid_len')
      }
      clientId = overridden
    }
  }
  const client: ClientInfo = {
    clientId,
    username,
    protocolVersion: channel.protocolVersion,
    listener: channel.listener.id,
    remoteAddress: channel.transport.remoteAddress,
    remotePort: channel.transport.remotePort,
    connectedAt: Date.now(),
    isSuperuser: false,
    attrs,
    tls,
    cert,
  }
  channel.client = client
  if (refusedAsBanned(channel, client)) return
  // EMQX 5.8 counts a flapping client's CONNECTs here: past the ban check, before authentication.
  channel.core.flapping.connecting(clientId, client.remoteAddress)
  const method = packet.properties?.authenticationMethod
  if (method !== undefined) return startEnhancedAuth(channel, packet, client, method, assigned !== undefined)
  if (channel.core.hooks.authenticate.length === 0) return accept(channel, packet, client, assigned !== undefined)
  return runAuthenticate(channel.core.hooks, client, { username, password: packet.password }).then(async (answer) => {
    if (channel.state !== 'connecting') return
    if (answer.result !== 'ok') return refuseAuth(channel, answer)
    client.isSuperuser = answer.isSuperuser ?? false
    // An authenticator's attributes join those of client_attrs_init, and win on the same name (EMQX's merge).
    if (answer.attrs) client.attrs = { ...client.attrs, ...answer.attrs }
    if (answer.acl) client.acl = answer.acl
    if (answer.aclExpireAt !== undefined) client.aclExpireAt = answer.aclExpireAt
    if (answer.authenticator !== undefined) client.authenticator = answer.authenticator
    const expireAt = answer.expireAt ?? answer.aclExpireAt
    if (expireAt !== undefined) client.expireAt = expireAt
    await accept(channel, packet, client, assigned !== undefined)
    if (answer.expireAt !== undefined) disconnectAtExpiry(channel, answer.expireAt)
  }, (err: unknown) => {
    // A failing authenticator is the server's problem: answer CONNACK instead of a silent close.
    if (channel.state !== 'connecting') return
    channel.core.log.error({ err, client: channel.label }, 'authenticate hook failed')
    refuse(channel, RC.SERVER_UNAVAILABLE, 'authentication unavailable')
  })
}

interface Refusal { rc: number; reason: string }

function checkConnect (channel: Channel, packet: IConnectPacket): Refusal | null {
  const v = channel.protocolVersion
  const mqtt = channel.core.config.mqtt
  const expectedName = v === 3 ? 'MQIsdp' : 'MQTT'
  if (packet.protocolId !== expectedName) {
    return { rc: RC.UNSUPPORTED_PROTOCOL_VERSION, reason: `protocol name ${String(packet.protocolId)} does not match protocol level ${v}` }
  }
  if (v !== 5 && packet.password !== undefined && packet.username === undefined) {
    throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'password flag set without user name flag [MQTT-3.1.2-22]')
  }
  const props = packet.properties
  if (v === 5 && props) {
    if (props.receiveMaximum === 0) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'Receive Maximum of 0')
    if (props.maximumPacketSize === 0) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'Maximum Packet Size of 0')
  }
  const id = packet.clientId
  if (id === '') {
    if (v === 3) return { rc: RC.CLIENT_IDENTIFIER_NOT_VALID, reason: 'MQTT 3.1 requires a client identifier' }
    if (v === 4 && !packet.clean) return { rc: RC.CLIENT_IDENTIFIER_NOT_VALID, reason: 'an empty client identifier needs clean session [MQTT-3.1.3-8]' }
  }
  if (Buffer.byteLength(id) > mqtt.max_clientid_len) {
    return { rc: RC.CLIENT_IDENTIFIER_NOT_VALID, reason: `client identifier longer than mqtt.max_clientid_len (${mqtt.max_clientid_len})` }
  }
  if (id.includes('\uFFFD') || id.includes('\u0000')) return { rc: RC.CLIENT_IDENTIFIER_NOT_VALID, reason: 'client identifier is not valid UTF-8' }
  if (hasControlCharacter(id)) return { rc: RC.CLIENT_IDENTIFIER_NOT_VALID, reason: 'client identifier contains a control character' }
  const user = packet.username
  if (user !== undefined && isMalformedString(user)) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'user name is ill-formed UTF-8 or contains U+0000 [MQTT-1.5.4-2]')
  if (user !== undefined && hasControlCharacter(user)) return { rc: RC.BAD_USER_NAME_OR_PASSWORD, reason: 'user name contains a control character' }
  if (mqtt.use_username_as_clientid && !packet.username) {
    return { rc: RC.CLIENT_IDENTIFIER_NOT_VALID, reason: 'mqtt.use_username_as_clientid is set and the client sent no user name' }
  }
  const will = packet.will
  if (will) {
    if ((will.qos as number) === 3) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'will QoS 3 [MQTT-3.1.2-12]')
    const error = topicNameError(will.topic, mqtt.max_topic_levels)
    if (error) return { rc: RC.TOPIC_NAME_INVALID, reason: `will topic: ${error}` }
    // A will is published for the client: not to $SYS either (see handlers/publish.ts).
    if (isSysTopic(channel.listener.mountpoint + will.topic)) return { rc: RC.NOT_AUTHORIZED, reason: 'will topic: $SYS topics are published only by the broker' }
    if ((will.qos ?? 0) > mqtt.max_qos_allowed) return { rc: RC.QOS_NOT_SUPPORTED, reason: `will QoS above mqtt.max_qos_allowed (${mqtt.max_qos_allowed})` }
    if (will.retain && !mqtt.retain_available) return { rc: RC.RETAIN_NOT_SUPPORTED, reason: 'retained messages are disabled' }
    const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload
    if (will.properties?.payloadFormatIndicator && !isUtf8(payload)) {
      return { rc: RC.PAYLOAD_FORMAT_INVALID, reason: 'will payload is declared UTF-8 but is not' }
    }
  }
  return null
}

/** MQTT 5 enhanced authentication (spec 4.12): AUTH 0x18 round trips in state 'connecting', then CONNACK. */
function startEnhancedAuth (channel: Channel, packet: IConnectPacket, client: ClientInfo, method: string, assignedId: boolean): void | Promise<void> {
  const exchange = channel.core.hooks.enhancedAuth?.(client, method)
  if (!exchange) return refuse(channel, RC.BAD_AUTHENTICATION_METHOD, `authentication method ${method} is not supported`)
  channel.enhancedAuth = {
    method,
    exchange,
    finish: (step) => {
      if (step.result === 'continue') return
      if (step.result !== 'ok') return refuseAuth(channel, { authenticator: method, ...step })
      if (step.username !== undefined && !bindProvenUser(channel, client, method, step.username)) return
      client.isSuperuser = step.isSuperuser ?? false
      return accept(channel, packet, client, assignedId, { authenticationMethod: method, ...(step.data ? { authenticationData: step.data } : {}) })
    },
  }
  return enhancedAuthStep(channel, packet.properties?.authenticationData)
}

/**
 * The user an enhanced authentication proved (SCRAM `n=`) is the client's user name, which ACLs and bans
 * see: a different user name from CONNECT (or from TLS) is refused, none takes the proven one. False after refusing.
 */
function bindProvenUser (channel: Channel, client: ClientInfo, method: string, proven: string): boolean {
  if (client.username !== undefined && client.username !== proven) {
    refuseAuth(channel, { result: 'deny', reasonCode: RC.BAD_USER_NAME_OR_PASSWORD, reason: `the user name differs from the user ${method} authenticated`, authenticator: method })
    return false
  }
  client.username = proven
  return !refusedAsBanned(channel, client)
}

/** Refuses a banned client (CONNACK 0x8A); true when it did. */
function refusedAsBanned (channel: Channel, client: ClientInfo): boolean {
  const ban = channel.core.banned.check(client)
  if (!ban) return false
  // The ban's details go to the log only: its reason is the operator's note, not the client's business.
  channel.core.log.info({ client: channel.label, as: ban.as, who: ban.who, reason: ban.reason }, 'client is banned')
  refuse(channel, RC.BANNED, 'banned')
  return true
}

/** Feeds CONNECT's or an AUTH's Authentication Data to the exchange: AUTH 0x18 to go on, else CONNACK. */
export async function enhancedAuthStep (channel: Channel, data: Buffer | undefined): Promise<void> {
  const auth = channel.enhancedAuth!
  let step: EnhancedAuthStep
  try {
    step = await auth.exchange.step(data)
  } catch (err) {
    if (channel.state !== 'connecting') return
    channel.enhancedAuth = null
    channel.core.log.error({ err, client: channel.label }, 'enhanced authentication failed')
    return refuse(channel, RC.SERVER_UNAVAILABLE, 'authentication unavailable')
  }
  if (channel.state !== 'connecting') return
  if (step.result === 'continue') {
    channel.send({ cmd: 'auth', reasonCode: RC.CONTINUE_AUTHENTICATION, properties: { authenticationMethod: auth.method, authenticationData: step.data } })
    return
  }
  channel.enhancedAuth = null
  await auth.finish(step)
}

/** An AUTH that breaks the exchange: CONNACK 0x82, then close. */
export function refuseEnhancedAuth (channel: Channel, reason: string): void {
  channel.enhancedAuth = null
  refuse(channel, RC.PROTOCOL_ERROR, reason)
}

function refuseAuth (channel: Channel, answer: Exclude<AuthResult, { result: 'ok' }>): void {
  channel.core.metrics.authFailures++
  const rc = answer.result === 'deny' ? (answer.reasonCode ?? RC.NOT_AUTHORIZED) : RC.NOT_AUTHORIZED
  const reason = answer.result === 'deny' ? (answer.reason ?? 'not authorized') : 'not authorized'
  const detail = answer.result === 'deny' ? answer.detail : answer.reason
  // One line per refusal, naming who decided and why; never the credentials.
  channel.core.log.warning({
    clientid: channel.clientId,
    listener: channel.listener.id,
    authenticator: (answer.result === 'deny' ? answer.authenticator : undefined) ?? 'hook',
    reason,
    ...(detail ? { detail } : {}),
    reasonCode: describeReason(rc),
  }, 'authentication refused')
  reply(channel, rc, reason)
}

function refuse (channel: Channel, rc: number, reason: string): void {
  channel.core.log.info({ client: channel.label, reasonCode: describeReason(rc) }, `refused CONNECT: ${reason}`)
  reply(channel, rc, reason)
}

/** CONNACK with the refusal, then close. */
function reply (channel: Channel, rc: number, reason: string): void {
  channel.core.metrics.connectionsRefused++
  const v5 = channel.protocolVersion === 5
  channel.send(v5
    ? { cmd: 'connack', sessionPresent: false, reasonCode: rc, properties: { reasonString: reason } }
    : { cmd: 'connack', sessionPresent: false, returnCode: v3ConnackCode(rc) })
  channel.close(reason)
}

/** Attaches the session and answers CONNACK; in a cluster, first brings the session from the node that holds it. */
function accept (channel: Channel, packet: IConnectPacket, client: ClientInfo, assignedId: boolean, extra: ConnackProps = NO_PROPS): void | Promise<void> {
  const unsafe = mountpointIdentityRefusal(channel.listener.mountpoint, client)
  if (unsafe) return refuse(channel, unsafe.rc, unsafe.reason)
  const cluster = channel.core.cluster
  if (!cluster) return resume(channel, packet, client, assignedId, extra)
  return cluster.takeover(client.clientId, packet.clean !== false).then((moved) => {
    // Adopted even if this connection went meanwhile: the session has left its node and must not be lost.
    if (moved) channel.core.registry.adopt(moved)
    else if (channel.state !== 'connecting') cluster.connectAbandoned(client.clientId)
    // Its subscriptions are routed here by every node before the CONNACK, as after a SUBACK.
    const synced = moved ? cluster.routesSynced() : null
    if (synced) return synced.then(() => { if (channel.state === 'connecting') return resume(channel, packet, client, assignedId, extra) })
    if (channel.state === 'connecting') return resume(channel, packet, client, assignedId, extra)
  })
}

/** Before a session is resumed (and its connection taken over): refused if it is another user's, else authorized again for this client. */
function resume (channel: Channel, packet: IConnectPacket, client: ClientInfo, assignedId: boolean, extra: ConnackProps): void | Promise<void> {
  const session = packet.clean === false ? channel.core.sessions.get(client.clientId) : undefined
  if (!session) return attach(channel, packet, client, assignedId, extra)
  const refusal = ownerRefusal(channel.core, session, client)
  if (refusal) return refuse(channel, RC.NOT_AUTHORIZED, refusal)
  if (channel.core.hooks.authorizeSubscribe.length === 0) return attach(channel, packet, client, assignedId, extra)
  return reauthorize(channel.core, session, client, channel.label).then(() => {
    if (channel.state === 'connecting') attach(channel, packet, client, assignedId, extra)
  })
}

function attach (channel: Channel, packet: IConnectPacket, client: ClientInfo, assignedId: boolean, extra: ConnackProps): void {
  const core = channel.core
  const mqtt = core.config.mqtt
  const v5 = channel.protocolVersion === 5
  const props = packet.properties ?? NO_PROPS
  const existing = core.clients.get(client.clientId)
  if (existing && existing !== channel) {
    const err = new CulexError('CULEX_ERR_MQTT_TAKEN_OVER', 'session taken over')
    core.log.info({ client: existing.label, code: err.code }, 'session taken over by a new connection')
    existing.disconnectFor(err)
  }

  const connack: ConnackProps = {}
  const requested = v5 ? (props.sessionExpiryInterval ?? 0) : (packet.clean ? 0 : NEVER_EXPIRES)
  const ceiling = Math.floor(mqtt.session_expiry_interval / 1000)
  const expiry = requested === 0 ? 0 : Math.min(requested, ceiling)
  if (v5 && expiry !== requested) connack.sessionExpiryInterval = expiry
  const present = core.registry.open(channel, client.clientId, packet.clean !== false, expiry)
  const session = channel.session!

  let keepalive = packet.keepalive ?? 0
  if (v5 && mqtt.server_keepalive > 0) {
    keepalive = Math.floor(mqtt.server_keepalive / 1000)
    connack.serverKeepAlive = keepalive
  }
  channel.settle({
    keepalive,
    cleanStart: packet.clean !== false,
    sendWindow: Math.min(props.receiveMaximum ?? 65535, mqtt.max_inflight),
    maxOutgoingPacket: props.maximumPacketSize || Number.POSITIVE_INFINITY,
    aliasOutMax: props.topicAliasMaximum ?? 0,
    problemInfo: props.requestProblemInformation !== false,
    mountpoint: expandMountpoint(channel.listener.mountpoint, client),
  })
  if (channel.mountpoint) client.mountpoint = channel.mountpoint

  if (packet.will) {
    const w = packet.will
    const payload = typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload
    const { willDelayInterval, ...willProps } = w.properties ?? {}
    const message = createMessage(channel.mountpoint + w.topic, payload, w.qos ?? 0, w.retain ?? false,
      v5 && Object.keys(willProps).length > 0 ? willProps : undefined, client.clientId)
    session.will = { message, delay: willDelayInterval ?? 0, client }
  }

  if (v5) {
    if (assignedId) connack.assignedClientIdentifier = client.clientId
    if (Number.isFinite(mqtt.max_awaiting_rel) && mqtt.max_awaiting_rel < 65535) connack.receiveMaximum = Math.max(1, mqtt.max_awaiting_rel)
    if (mqtt.max_qos_allowed < 2) connack.maximumQoS = mqtt.max_qos_allowed
    if (!mqtt.retain_available) connack.retainAvailable = false
    connack.maximumPacketSize = mqtt.max_packet_size
    if (mqtt.max_topic_alias > 0) connack.topicAliasMaximum = mqtt.max_topic_alias
    if (!mqtt.wildcard_subscription) connack.wildcardSubscriptionAvailable = false
    if (!mqtt.shared_subscription) connack.sharedSubscriptionAvailable = false
    if (props.requestResponseInformation && mqtt.response_information) connack.responseInformation = mqtt.response_information
    Object.assign(connack, extra)
  }
  channel.send(v5
    ? { cmd: 'connack', sessionPresent: present, reasonCode: RC.SUCCESS, properties: connack }
    : { cmd: 'connack', sessionPresent: present, returnCode: 0 })
  channel.state = 'connected'
  core.watchKeepalive(channel)
  session.resend()
  session.pump()
  // A resumed session may hold messages in flight and PUBRELs awaited.
  channel.attend()
  if (core.log.isLevelEnabled('info')) core.log.info({ client: channel.label, protocol: channel.protocolVersion, cleanStart: packet.clean, sessionPresent: present, keepalive: channel.keepalive }, 'client connected')
  if (core.hooks.clientConnected.length > 0) core.hooks.notify('clientConnected', client, channel.connInfo())
}

/** JWT disconnect_after_expire: DISCONNECT 0x87 (v5; v3 just closes) when the credentials expire; the will follows. */
function disconnectAtExpiry (channel: Channel, expireAt: number): void {
  if (channel.state !== 'connected') return
  const timer = setLongTimeout(() => {
    channel.core.log.info({ client: channel.label }, 'credentials expired')
    channel.disconnect(RC.NOT_AUTHORIZED, 'credentials expired')
  }, expireAt - Date.now())
  channel.onClose(() => timer.cancel())
}

function expandMountpoint (template: string, client: ClientInfo): string {
  return template ? expandIdentity(template, client) : ''
}

/**
 * A mountpoint's ${clientid} or ${username} must expand to one plain topic level: with `+`, `#` or `/`
 * (or nothing) a client would subscribe across other clients' mountpoints or publish into them.
 */
function mountpointIdentityRefusal (template: string, client: ClientInfo): Refusal | null {
  if (!template) return null
  if (template.includes('${clientid}') && !isPlainLevel(client.clientId)) {
    return { rc: RC.CLIENT_IDENTIFIER_NOT_VALID, reason: 'the listener mountpoint uses ${clientid} and the client identifier is empty or contains +, # or /' }
  }
  if (template.includes('${username}') && !isPlainLevel(client.username)) {
    return { rc: RC.BAD_USER_NAME_OR_PASSWORD, reason: 'the listener mountpoint uses ${username} and the user name is missing, empty or contains +, # or /' }
  }
  return null
}

const isPlainLevel = (value: string | undefined): boolean => value !== undefined && value !== '' && !/[+#/]/.test(value)
