// UNSUBSCRIBE (spec 3.10): remove each filter, UNSUBACK with a code per filter in MQTT 5.
import type { IUnsubscribePacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'
import { RC } from '../reason-codes.js'
import { mountFilter } from './subscribe.js'

export function handleUnsubscribe (conn: Connection, packet: IUnsubscribePacket): void {
  const codes = packet.unsubscriptions.map((filter) => {
    const removed = conn.core.unsubscribe(conn.session!, mountFilter(conn.mountpoint, filter))
    return removed ? RC.SUCCESS : RC.NO_SUBSCRIPTION_EXISTED
  })
  if (conn.protocolVersion === 5) conn.send({ cmd: 'unsuback', messageId: packet.messageId!, granted: codes })
  else conn.send({ cmd: 'unsuback', messageId: packet.messageId!, granted: [] })
}
