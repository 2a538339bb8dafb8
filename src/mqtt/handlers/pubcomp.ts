// PUBCOMP (spec 3.7): a QoS 2 delivery to the client is complete.
import type { IPubcompPacket } from 'mqtt-packet'
import type { Channel } from '../channel.js'

/** QoS 2 delivery complete. */
export function handlePubcomp (channel: Channel, packet: IPubcompPacket): void {
  const session = channel.session!
  const d = session.inflight.get(packet.messageId!)
  if (!d || d.state !== 'pubrel') return
  session.complete(d)
}
