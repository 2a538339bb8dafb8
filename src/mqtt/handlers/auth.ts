// AUTH (spec 3.15): enhanced authentication is not offered yet, so an AUTH packet is a protocol error.
import type { IAuthPacket } from 'mqtt-packet'
import { CulexError } from '../../errors.js'
import type { Connection } from '../connection.js'

export function handleAuth (_conn: Connection, _packet: IAuthPacket): void {
  throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'AUTH received but no authentication method was agreed')
}
