// PINGREQ (spec 3.12): answer PINGRESP; receiving it already refreshed the keepalive clock.
import type { IPingreqPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'

export function handlePingreq (conn: Connection, _packet: IPingreqPacket): void {
  conn.send({ cmd: 'pingresp' })
}
