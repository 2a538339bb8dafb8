// PUBCOMP (spec 3.7): a QoS 2 delivery to the client is complete.
import type { IPubcompPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'

/** QoS 2 delivery complete. */
export function handlePubcomp (conn: Connection, packet: IPubcompPacket): void {
  const session = conn.session!
  const d = session.inflight.get(packet.messageId!)
  if (!d || d.state !== 'pubrel') return
  session.complete(d)
}
