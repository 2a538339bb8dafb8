// DISCONNECT from the client (spec 3.14): a normal one discards the will; 0x04 keeps it.
import type { IDisconnectPacket } from 'mqtt-packet'
import { CulexError } from '../../errors.js'
import type { Channel } from '../channel.js'
import { RC, describeReason } from '../reason-codes.js'

/** The close reason of the usual DISCONNECT, made once. */
const NORMAL = `client sent DISCONNECT ${describeReason(RC.SUCCESS)}`

export function handleDisconnect (channel: Channel, packet: IDisconnectPacket): void {
  const session = channel.session!
  const rc = packet.reasonCode ?? RC.SUCCESS
  const expiry = packet.properties?.sessionExpiryInterval
  if (expiry !== undefined && channel.protocolVersion === 5) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'DISCONNECT sets a Session Expiry Interval after CONNECT set 0 [MQTT-3.14.2-2]')
    }
    session.expiryInterval = Math.min(expiry, Math.floor(channel.core.config.mqtt.session_expiry_interval / 1000))
  }
  if (rc !== RC.DISCONNECT_WITH_WILL) session.will = null
  channel.disconnectReceived = true
  channel.close(rc === RC.SUCCESS ? NORMAL : `client sent DISCONNECT ${describeReason(rc)}`)
}
