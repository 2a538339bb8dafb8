// AUTH (spec 3.15): the client's side of MQTT 5 enhanced authentication between CONNECT and CONNACK
// (spec 4.12). Re-authentication after CONNACK (0x19) is not offered.
import type { IAuthPacket } from 'mqtt-packet'
import { CulexError } from '../../errors.js'
import type { Channel } from '../channel.js'
import { RC } from '../reason-codes.js'
import { enhancedAuthStep, refuseEnhancedAuth } from './connect.js'

export function handleAuth (channel: Channel, packet: IAuthPacket): void | Promise<void> {
  const auth = channel.enhancedAuth
  if (!auth) {
    if (packet.reasonCode === RC.RE_AUTHENTICATE) return channel.disconnect(RC.NOT_AUTHORIZED, 're-authentication is not supported')
    throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'AUTH received but no authentication method was agreed')
  }
  const method = packet.properties?.authenticationMethod
  if (method !== auth.method) return refuseEnhancedAuth(channel, `AUTH with authentication method ${String(method)}, CONNECT had ${auth.method}`)
  if (packet.reasonCode !== RC.CONTINUE_AUTHENTICATION) return refuseEnhancedAuth(channel, 'AUTH during authentication must have reason code 0x18')
  return enhancedAuthStep(channel, packet.properties?.authenticationData)
}
