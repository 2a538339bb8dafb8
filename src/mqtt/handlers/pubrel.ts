// PUBREL (spec 3.6): the client releases a QoS 2 message it sent.
import type { IPubrelPacket } from 'mqtt-packet'
import type { Channel } from '../channel.js'
import { RC } from '../reason-codes.js'

/** QoS 2 from the client released: forget the packet id and complete. */
export function handlePubrel (channel: Channel, packet: IPubrelPacket): void {
  const id = packet.messageId!
  const known = channel.session!.awaitingRel.delete(id)
  if (channel.protocolVersion === 5 && !known) channel.send({ cmd: 'pubcomp', messageId: id, reasonCode: RC.PACKET_IDENTIFIER_NOT_FOUND })
  else channel.send({ cmd: 'pubcomp', messageId: id })
}
