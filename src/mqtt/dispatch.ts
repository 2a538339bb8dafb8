// packet.cmd → handler. Packets that only a server sends, or that come out of order, are protocol errors.
import type { Packet } from 'mqtt-packet'
import { CulexError } from '../errors.js'
import type { Channel } from './channel.js'
import { handleAuth } from './handlers/auth.js'
import { handleConnect } from './handlers/connect.js'
import { handleDisconnect } from './handlers/disconnect.js'
import { handlePingreq } from './handlers/pingreq.js'
import { handlePuback } from './handlers/puback.js'
import { handlePubcomp } from './handlers/pubcomp.js'
import { handlePublish } from './handlers/publish.js'
import { handlePubrec } from './handlers/pubrec.js'
import { handlePubrel } from './handlers/pubrel.js'
import { handleSubscribe } from './handlers/subscribe.js'
import { handleUnsubscribe } from './handlers/unsubscribe.js'

type Handler = (channel: Channel, packet: never) => void | Promise<void>

const HANDLERS: Partial<Record<Packet['cmd'], Handler>> = {
  publish: handlePublish,
  puback: handlePuback,
  pubrec: handlePubrec,
  pubrel: handlePubrel,
  pubcomp: handlePubcomp,
  subscribe: handleSubscribe,
  unsubscribe: handleUnsubscribe,
  pingreq: handlePingreq,
  disconnect: handleDisconnect,
  auth: handleAuth,
}

export function dispatch (channel: Channel, packet: Packet): void | Promise<void> {
  channel.core.metrics.packetsReceived++
  // Property sets: the packet's own, and for CONNECT its will's (most packets have neither).
  const props = (packet as { properties?: Props }).properties
  const willProps = packet.cmd === 'connect' && packet.will ? packet.will.properties as Props : undefined
  if (props !== undefined || willProps !== undefined) {
    const repeated = repeatedProperty(props) ?? repeatedProperty(willProps)
    if (repeated) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} includes the ${repeated} property more than once`)
    const invalid = invalidProperty(packet.cmd, props, false) ?? invalidProperty(packet.cmd, willProps, true)
    if (invalid) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', `${packet.cmd.toUpperCase()} ${invalid} (spec 2.2.2.2)`)
  }
  if (packet.cmd === 'connect') {
    if (channel.state !== 'new') throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'second CONNECT on a connection [MQTT-3.1.0-2]')
    return handleConnect(channel, packet)
  }
  // AUTH may come between CONNECT and CONNACK while enhanced authentication goes on (spec 4.12).
  if (channel.state !== 'connected' && !(packet.cmd === 'auth' && channel.enhancedAuth)) {
    // [MQTT-3.1.0-1]: the first packet must be CONNECT; nothing is sent back before it.
    throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} before CONNECT completed`)
  }
  if (packet.messageId === 0 && (packet.cmd === 'subscribe' || packet.cmd === 'unsubscribe' || (packet.cmd === 'publish' && packet.qos > 0))) {
    throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} with Packet Identifier 0 [MQTT-2.2.1-3]`)
  }
  const handler = HANDLERS[packet.cmd]
  if (!handler) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} is sent only by servers`)
  return (handler as (c: Channel, p: Packet) => void | Promise<void>)(channel, packet)
}

type Props = Record<string, unknown> | undefined

/** mqtt-packet turns a repeated property into an array; of what a client sends, only User Property may repeat. */
function repeatedProperty (props: Props): string | undefined {
  for (const name in props) if (Array.isArray(props[name])) return name
  return undefined
}

// What a client may send (MQTT 5 table 2-4): properties by packet, and the value types mqtt-packet
// decodes them to. It reads an identifier meant for another packet type without complaint, and a
// string or number cut off by the end of the packet as null, -1 or false; passed on, either breaks
// the encoding of the message for its subscribers.
const MESSAGE_PROPS = ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties']
const ACK_PROPS = ['reasonString', 'userProperties']
const ALLOWED_PROPS: Partial<Record<Packet['cmd'] | 'will', Set<string>>> = {
  connect: new Set(['sessionExpiryInterval', 'receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum', 'requestResponseInformation',
    'requestProblemInformation', 'userProperties', 'authenticationMethod', 'authenticationData']),
  will: new Set([...MESSAGE_PROPS, 'willDelayInterval']),
  // A Subscription Identifier on PUBLISH is a Protocol Error, reported by its handler [MQTT-3.3.4-6].
  publish: new Set([...MESSAGE_PROPS, 'topicAlias', 'subscriptionIdentifier']),
  puback: new Set(ACK_PROPS),
  pubrec: new Set(ACK_PROPS),
  pubrel: new Set(ACK_PROPS),
  pubcomp: new Set(ACK_PROPS),
  subscribe: new Set(['subscriptionIdentifier', 'userProperties']),
  unsubscribe: new Set(['userProperties']),
  disconnect: new Set(['sessionExpiryInterval', 'reasonString', 'serverReference', 'userProperties']),
  auth: new Set(['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties']),
}
const NUMBER_PROPS = new Set(['sessionExpiryInterval', 'willDelayInterval', 'receiveMaximum', 'maximumPacketSize', 'topicAliasMaximum',
  'messageExpiryInterval', 'topicAlias', 'subscriptionIdentifier'])
const STRING_PROPS = new Set(['authenticationMethod', 'contentType', 'responseTopic', 'reasonString', 'serverReference'])
const BINARY_PROPS = new Set(['authenticationData', 'correlationData'])

/** Why a property of `props` (the packet's, or its will's) makes the packet malformed, or undefined. */
function invalidProperty (cmd: Packet['cmd'], props: Props, will: boolean): string | undefined {
  const allowed = ALLOWED_PROPS[will ? 'will' : cmd]
  for (const name in props) {
    const value = props[name]
    if (!allowed?.has(name)) return `carries the ${name} property, which is not one of ${will ? 'a will' : 'its'} properties`
    if (!validPropertyValue(name, value)) return `carries a ${name} property that is cut off by the end of the packet`
  }
  return undefined
}

function validPropertyValue (name: string, value: unknown): boolean {
  if (NUMBER_PROPS.has(name)) return typeof value === 'number' && value >= 0
  if (STRING_PROPS.has(name)) return typeof value === 'string'
  if (BINARY_PROPS.has(name)) return Buffer.isBuffer(value)
  if (name === 'userProperties') {
    return typeof value === 'object' && value !== null &&
      Object.values(value).every((v) => typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string')))
  }
  return typeof value === 'boolean'
}
