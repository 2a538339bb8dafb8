import type { CulexConfig } from '../config/schema.js'
import type { Listener } from './listener.js'
import type { ListenerCore } from './listener-core.js'
import type { TlsServices } from './tls-services.js'
import { SslListener } from './ssl.js'
import { TcpListener } from './tcp.js'
import { WsListener } from './ws.js'
import { WssListener } from './wss.js'

export type { Listener } from './listener.js'
export type { ServedChain } from './cert-expiry.js'
export type { TlsServices } from './tls-services.js'
export { ProxyProtocolReader, peerOf } from './proxy-protocol.js'

/** One listener object per configured listener, enabled or not, in config order. */
export function createListeners (core: ListenerCore, config: CulexConfig['listeners'], tls: TlsServices = {}): Listener[] {
  return [
    ...Object.entries(config.tcp).map(([name, cfg]) => new TcpListener(core, name, cfg)),
    ...Object.entries(config.ssl).map(([name, cfg]) => new SslListener(core, name, cfg, tls)),
    ...Object.entries(config.ws).map(([name, cfg]) => new WsListener(core, name, cfg)),
    ...Object.entries(config.wss).map(([name, cfg]) => new WssListener(core, name, cfg, tls.certStore)),
  ]
}
