// packet.cmd → handler. Packets that only a server sends, or that come out of order, are protocol errors.
import type { Packet } from 'mqtt-packet'
import { CulexError } from '../errors.js'
import type { Connection } from './connection.js'
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

type Handler = (conn: Connection, packet: never) => void | Promise<void>

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

export function dispatch (conn: Connection, packet: Packet): void | Promise<void> {
  conn.core.metrics.packetsReceived++
  const repeated = repeatedProperty(packet)
  if (repeated) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} includes the ${repeated} property more than once`)
  if (packet.cmd === 'connect') {
    if (conn.state !== 'new') throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'second CONNECT on a connection [MQTT-3.1.0-2]')
    return handleConnect(conn, packet)
  }
  // AUTH may come between CONNECT and CONNACK while enhanced authentication goes on (spec 4.12).
  if (conn.state !== 'connected' && !(packet.cmd === 'auth' && conn.enhancedAuth)) {
    // [MQTT-3.1.0-1]: the first packet must be CONNECT; nothing is sent back before it.
    throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} before CONNECT completed`)
  }
  if (packet.messageId === 0 && (packet.cmd === 'subscribe' || packet.cmd === 'unsubscribe' || (packet.cmd === 'publish' && packet.qos > 0))) {
    throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} with Packet Identifier 0 [MQTT-2.2.1-3]`)
  }
  const handler = HANDLERS[packet.cmd]
  if (!handler) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', `${packet.cmd.toUpperCase()} is sent only by servers`)
  return (handler as (c: Connection, p: Packet) => void | Promise<void>)(conn, packet)
}

/** mqtt-packet turns a repeated property into an array; of what a client sends, only User Property may repeat. */
function repeatedProperty (packet: Packet): string | undefined {
  const props = (packet as { properties?: Record<string, unknown> }).properties
  if (!props) return undefined
  for (const name in props) if (Array.isArray(props[name])) return name
  return undefined
}
