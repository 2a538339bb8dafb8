// UNSUBSCRIBE (spec 3.10): remove each filter, UNSUBACK with a code per filter in MQTT 5.
import type { IUnsubscribePacket } from 'mqtt-packet'
import { CulexError } from '../../errors.js'
import type { Channel } from '../channel.js'
import { RC } from '../reason-codes.js'
import { EXCLUSIVE_PREFIX } from '../exclusive.js'
import { isMalformedString } from '../topic.js'
import { mountFilter } from './subscribe.js'

export function handleUnsubscribe (channel: Channel, packet: IUnsubscribePacket): void {
  if (packet.unsubscriptions.length === 0) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]')
  if (packet.unsubscriptions.some(isMalformedString)) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'UNSUBSCRIBE topic filter is ill-formed UTF-8 or contains U+0000')
  const codes = packet.unsubscriptions.map((requested) => {
    // As EMQX: `$exclusive/f` names the subscription to f.
    const filter = requested.startsWith(EXCLUSIVE_PREFIX) && requested.length > EXCLUSIVE_PREFIX.length ? requested.slice(EXCLUSIVE_PREFIX.length) : requested
    const mounted = mountFilter(channel.mountpoint, filter)
    const removed = channel.core.router.unsubscribe(channel.session!, mounted)
    if (removed && channel.core.hooks.clientUnsubscribed.length > 0) channel.core.hooks.notify('clientUnsubscribed', channel.client!, mounted)
    return removed ? RC.SUCCESS : RC.NO_SUBSCRIPTION_EXISTED
  })
  if (channel.protocolVersion === 5) channel.send({ cmd: 'unsuback', messageId: packet.messageId!, granted: codes })
  else channel.send({ cmd: 'unsuback', messageId: packet.messageId!, granted: [] })
}
