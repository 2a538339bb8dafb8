import type { CulexConfig } from '../config/schema.js'
import type { Core } from '../mqtt/core.js'
import type { Listener } from './listener.js'
import { TcpListener } from './tcp.js'
import { WsListener } from './ws.js'

export type { Listener } from './listener.js'

/** One listener object per configured listener, enabled or not, in config order. */
export function createListeners (core: Core, config: CulexConfig['listeners']): Listener[] {
  return [
    ...Object.entries(config.tcp).map(([name, cfg]) => new TcpListener(core, name, cfg)),
    ...Object.entries(config.ws).map(([name, cfg]) => new WsListener(core, name, cfg)),
  ]
}
