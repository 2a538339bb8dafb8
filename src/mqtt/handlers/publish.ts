// PUBLISH from a client (spec 3.3): alias, topic and QoS checks, authorization, then routing and the ack.
import { isUtf8 } from 'node:buffer'
import type { IPublishPacket } from 'mqtt-packet'
import { CulexError, type ErrorCode } from '../../errors.js'
import type { Channel } from '../channel.js'
import { DELAYED_PREFIX, parseDelayed, type DelayedTopic } from '../delayed.js'
import { runAuthorize, type AuthzDecision } from '../hooks.js'
import { createMessage, type Message } from '../message.js'
import { RC } from '../reason-codes.js'
import { isMalformedString, isSysTopic, topicNameError } from '../topic.js'

export function handlePublish (channel: Channel, packet: IPublishPacket): void | Promise<void> {
  const core = channel.core
  const mqtt = core.config.mqtt
  const v5 = channel.protocolVersion === 5
  core.metrics.messagesReceived++
  core.metrics.messagesReceivedQos[packet.qos]++
  if (packet.qos === 0 && packet.dup) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]')
  const topic = resolveTopic(channel, packet)
  if (topic === '') throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'PUBLISH with an empty topic and no Topic Alias')
  if (isMalformedString(topic)) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'PUBLISH topic is ill-formed UTF-8 or contains U+0000')
  const error = topicNameError(topic, mqtt.max_topic_levels)
  if (error) throw new CulexError('CULEX_ERR_MQTT_TOPIC_INVALID', `PUBLISH topic ${JSON.stringify(topic)}: ${error}`)
  if (packet.qos > mqtt.max_qos_allowed) throw new CulexError('CULEX_ERR_MQTT_QOS_NOT_SUPPORTED', `PUBLISH QoS ${packet.qos} above mqtt.max_qos_allowed (${mqtt.max_qos_allowed})`)
  if (packet.retain && !mqtt.retain_available) throw new CulexError('CULEX_ERR_MQTT_RETAIN_NOT_SUPPORTED', 'retained messages are disabled (mqtt.retain_available)')
  const responseTopic = v5 ? packet.properties?.responseTopic : undefined
  if (responseTopic !== undefined && topicNameError(responseTopic, mqtt.max_topic_levels)) {
    throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `Response Topic ${JSON.stringify(responseTopic)} is not a valid topic name [MQTT-3.3.2-14]`)
  }
  if (v5 && packet.properties?.subscriptionIdentifier !== undefined) {
    throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'a client PUBLISH must not carry a Subscription Identifier [MQTT-3.3.4-6]')
  }
  const session = channel.session!
  if (packet.qos === 2) {
    const id = packet.messageId!
    if (session.awaitingRel.has(id)) {
      // A resent QoS 2 PUBLISH we already accepted: acknowledge again, do not route twice [MQTT-4.3.3-10].
      channel.acknowledge({ cmd: 'pubrec', messageId: id })
      return
    }
    if (session.awaitingRel.size >= mqtt.max_awaiting_rel) {
      if (v5) throw new CulexError('CULEX_ERR_MQTT_RECEIVE_MAXIMUM', `more than ${mqtt.max_awaiting_rel} QoS 2 messages awaiting PUBREL`)
      core.log.warning({ client: channel.label }, 'QoS 2 message dropped: mqtt.max_awaiting_rel reached')
      core.metrics.messagesDropped++
      return
    }
  }
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
  // delayed: $delayed/{seconds}/{topic} is held, then published to {topic}; everything below sees {topic}.
  let delayed: Extract<DelayedTopic, { ok: true }> | undefined
  if (topic.startsWith(DELAYED_PREFIX) && core.config.delayed.enable) {
    const parsed = parseDelayed(topic, Date.now(), mqtt.max_topic_levels)
    if (!parsed.ok) return reject(channel, packet, parsed.rc, parsed.reason)
    delayed = parsed
  }
  const message = createMessage(channel.mountpoint + (delayed?.topic ?? topic), payload, packet.qos, packet.retain,
    v5 ? packet.properties : undefined, channel.clientId)
  // EMQX's mqtt.message_expiry_interval: the expiry of messages that carry none (every MQTT 3 message).
  if (message.expiresAt === 0 && mqtt.message_expiry_interval !== Number.POSITIVE_INFINITY) message.expiresAt = Date.now() + mqtt.message_expiry_interval * 1000
  // $SYS carries the broker's own state: no client publishes there, whatever the ACL says (as Mosquitto 2).
  if (isSysTopic(message.topic)) return reject(channel, packet, RC.NOT_AUTHORIZED, '$SYS topics are published only by the broker')
  if (v5 && message.properties?.payloadFormatIndicator && !isUtf8(payload)) {
    const err = new CulexError('CULEX_ERR_MQTT_PAYLOAD_FORMAT', 'payload is declared UTF-8 but is not')
    return reject(channel, packet, err.reasonCode!, err.message, err.code)
  }
  const hooks = core.hooks.authorizePublish
  if (hooks.length === 0) return accept(channel, packet, message, delayed)
  const decided = (allowed: AuthzDecision): Promise<void> | undefined => {
    if (allowed === true) return accept(channel, packet, message, delayed)
    if (allowed === false) reject(channel, packet, RC.NOT_AUTHORIZED, 'not authorized')
    else channel.protocolError(new CulexError('CULEX_ERR_MQTT_NOT_AUTHORIZED', `not authorized to publish ${JSON.stringify(topic)}`))
    return undefined
  }
  const allowed = runAuthorize(hooks, channel.client!, message)
  if (!(allowed instanceof Promise)) return decided(allowed)
  return allowed.then((answer) => channel.state === 'connected' ? decided(answer) : undefined)
}

/**
 * The topic of a PUBLISH, through its Topic Alias when it has one [MQTT-3.3.2-8..12]. An alias with a
 * topic is set only once the message is accepted (see accept()), so that a refused topic pins nothing.
 */
function resolveTopic (channel: Channel, packet: IPublishPacket): string {
  const alias = packet.properties?.topicAlias
  if (alias === undefined || channel.protocolVersion !== 5) return packet.topic
  const max = channel.core.config.mqtt.max_topic_alias
  if (alias === 0 || alias > max) throw new CulexError('CULEX_ERR_MQTT_TOPIC_ALIAS', `topic alias ${alias} outside 1..${max}`)
  if (packet.topic !== '') return packet.topic
  const topic = channel.aliasedTopic(alias)
  if (topic === undefined) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `unknown topic alias ${alias}`)
  return topic
}

/**
 * Sets the Topic Alias the PUBLISH carries with its topic, routes the message and acknowledges it; returns
 * the wait of a congested cluster bus (reads pause until it ends).
 */
function accept (channel: Channel, packet: IPublishPacket, message: Message, delayed?: Extract<DelayedTopic, { ok: true }>): Promise<void> | undefined {
  const core = channel.core
  const alias = packet.properties?.topicAlias
  if (alias !== undefined && packet.topic !== '' && channel.protocolVersion === 5) {
    channel.setAlias(alias, packet.topic)
    if (channel.overMemoryBudget()) return
  }
  if (delayed) return hold(channel, packet, message, delayed)
  core.publish(message, channel.client)
  if (packet.qos === 1) channel.acknowledge({ cmd: 'puback', messageId: packet.messageId! })
  else if (packet.qos === 2) {
    awaitRelease(channel, packet.messageId!)
    channel.acknowledge({ cmd: 'pubrec', messageId: packet.messageId! })
  }
  return core.bus.congested?.() ?? undefined
}

/**
 * Holds a delayed message. As EMQX, which answers for a message routed nowhere yet, MQTT 5 is acknowledged
 * 0x10 (No matching subscribers); held messages past delayed.max_delayed_messages are refused 0x97.
 */
function hold (channel: Channel, packet: IPublishPacket, message: Message, delayed: Extract<DelayedTopic, { ok: true }>): undefined {
  const held = channel.core.delayed.hold(message, channel.client!.username, delayed.publishAt, delayed.interval)
  if (!held) {
    reject(channel, packet, RC.QUOTA_EXCEEDED, 'delayed.max_delayed_messages reached')
    return
  }
  // Acknowledged once the data store holds it, as other stored messages are.
  const rc = channel.protocolVersion === 5 ? { reasonCode: RC.NO_MATCHING_SUBSCRIBERS } : {}
  if (packet.qos === 1) channel.acknowledge({ cmd: 'puback', messageId: packet.messageId!, ...rc }, held.stored)
  else if (packet.qos === 2) {
    awaitRelease(channel, packet.messageId!)
    channel.acknowledge({ cmd: 'pubrec', messageId: packet.messageId!, ...rc }, held.stored)
  }
  return undefined
}

/**
 * A refused PUBLISH, logged (with its error code when it has one). MQTT 5 answers a refused QoS 1/2 message
 * with a reason code; MQTT 3 can only acknowledge or close.
 */
function reject (channel: Channel, packet: IPublishPacket, rc: number, reason: string, code?: ErrorCode): void {
  channel.core.log.info({ client: channel.label, topic: packet.topic, ...(code ? { code } : {}) }, `PUBLISH refused: ${reason}`)
  channel.core.metrics.messagesDropped++
  if (packet.qos === 0) return
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec'
  if (channel.protocolVersion === 5) {
    channel.acknowledge({ cmd, messageId: packet.messageId!, reasonCode: rc, ...(channel.problemInfo ? { properties: { reasonString: reason } } : {}) })
  } else {
    channel.acknowledge({ cmd, messageId: packet.messageId! })
    if (packet.qos === 2) awaitRelease(channel, packet.messageId!)
  }
}

/** A QoS 2 PUBLISH handled: its PUBREL is awaited (await_rel_timeout, which the core's sweep keeps). */
function awaitRelease (channel: Channel, packetId: number): void {
  const awaiting = channel.session!.awaitingRel
  awaiting.set(packetId, Date.now())
  if (awaiting.size === 1) channel.attend()
}
