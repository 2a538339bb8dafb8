import type { CertStore } from '../certs/store.js'
import type { CulexConfig } from '../config/schema.js'
import type { Core } from '../mqtt/core.js'
import type { Listener } from './listener.js'
import type { PskTable } from './psk.js'
import { SslListener } from './ssl.js'
import { TcpListener } from './tcp.js'
import { WsListener } from './ws.js'
import { WssListener } from './wss.js'

export type { Listener } from './listener.js'

/** One listener object per configured listener, enabled or not, in config order. */
export function createListeners (core: Core, config: CulexConfig['listeners'], certStore?: CertStore, psk?: PskTable): Listener[] {
  return [
    ...Object.entries(config.tcp).map(([name, cfg]) => new TcpListener(core, name, cfg)),
    ...Object.entries(config.ssl).map(([name, cfg]) => new SslListener(core, name, cfg, certStore, psk)),
    ...Object.entries(config.ws).map(([name, cfg]) => new WsListener(core, name, cfg)),
    ...Object.entries(config.wss).map(([name, cfg]) => new WssListener(core, name, cfg, certStore)),
  ]
}
