// DISCONNECT from the client (spec 3.14): a normal one discards the will; 0x04 keeps it.
import type { IDisconnectPacket } from 'mqtt-packet'
import { CulexError } from '../../errors.js'
import type { Connection } from '../connection.js'
import { RC, describeReason } from '../reason-codes.js'

export function handleDisconnect (conn: Connection, packet: IDisconnectPacket): void {
  const session = conn.session!
  const rc = packet.reasonCode ?? RC.SUCCESS
  const expiry = packet.properties?.sessionExpiryInterval
  if (expiry !== undefined && conn.protocolVersion === 5) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'DISCONNECT sets a Session Expiry Interval after CONNECT set 0 [MQTT-3.14.2-2]')
    }
    session.expiryInterval = Math.min(expiry, Math.floor(conn.core.config.mqtt.session_expiry_interval / 1000))
  }
  if (rc !== RC.DISCONNECT_WITH_WILL) session.will = null
  conn.disconnectReceived = true
  conn.close(`client sent DISCONNECT ${describeReason(rc)}`)
}
