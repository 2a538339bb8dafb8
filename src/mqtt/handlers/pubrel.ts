// PUBREL (spec 3.6): the client releases a QoS 2 message it sent.
import type { IPubrelPacket } from 'mqtt-packet'
import type { Connection } from '../connection.js'
import { RC } from '../reason-codes.js'

/** QoS 2 from the client released: forget the packet id and complete. */
export function handlePubrel (conn: Connection, packet: IPubrelPacket): void {
  const id = packet.messageId!
  const known = conn.session!.awaitingRel.delete(id)
  if (conn.protocolVersion === 5 && !known) conn.send({ cmd: 'pubcomp', messageId: id, reasonCode: RC.PACKET_IDENTIFIER_NOT_FOUND })
  else conn.send({ cmd: 'pubcomp', messageId: id })
}
