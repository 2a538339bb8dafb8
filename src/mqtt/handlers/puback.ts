// PUBACK (spec 3.4): a QoS 1 delivery to the client is complete.
import type { IPubackPacket } from 'mqtt-packet'
import type { Channel } from '../channel.js'

/** QoS 1 delivery acknowledged: free the slot and fill the window. */
export function handlePuback (channel: Channel, packet: IPubackPacket): void {
  const session = channel.session!
  const d = session.inflight.get(packet.messageId!)
  if (!d || d.qos !== 1) return
  session.complete(d)
}
