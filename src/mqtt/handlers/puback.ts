// PUBACK (spec 3.4): a QoS 1 delivery to the client is complete.
import type { IPubackPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'

/** QoS 1 delivery acknowledged: free the slot and fill the window. */
export function handlePuback (conn: Connection, packet: IPubackPacket): void {
  const session = conn.session!
  const d = session.inflight.get(packet.messageId!)
  if (!d || d.qos !== 1) return
  session.complete(d)
}
