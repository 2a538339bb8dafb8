// PINGREQ (spec 3.12): answer PINGRESP; receiving it already refreshed the keepalive clock.
import type { IPingreqPacket } from 'mqtt-packet'
import type { Channel } from '../channel.js'

export function handlePingreq (channel: Channel, _packet: IPingreqPacket): void {
  channel.send({ cmd: 'pingresp' })
}
