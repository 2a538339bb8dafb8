// PUBREC (spec 3.5): first half of a QoS 2 delivery to the client.
import type { IPubrecPacket } from 'mqtt-packet'
import type { Channel } from '../channel.js'
import { RC } from '../reason-codes.js'

/** QoS 2 delivery received by the client: answer PUBREL, or drop it on an error reason code. */
export function handlePubrec (channel: Channel, packet: IPubrecPacket): void {
  const session = channel.session!
  const id = packet.messageId!
  const d = session.inflight.get(id)
  if (!d || d.qos !== 2) {
    if (channel.protocolVersion === 5) channel.send({ cmd: 'pubrel', messageId: id, reasonCode: RC.PACKET_IDENTIFIER_NOT_FOUND })
    return
  }
  if ((packet.reasonCode ?? 0) >= 0x80) {
    session.complete(d)
    return
  }
  session.released(d)
  channel.sendPubrel(id)
}
