// Plain MQTT over TCP.
import { createServer, type Server, type Socket } from 'node:net'
import type { TcpListenerConfig } from '../config/schema.js'
import type { Core } from '../mqtt/core.js'
import { NetListener } from './listener.js'

export class TcpListener extends NetListener<TcpListenerConfig> {
  readonly type = 'tcp'

  constructor (core: Core, name: string, config: TcpListenerConfig) {
    super(core, 'tcp', name, config)
  }

  protected createServer (): Server {
    return createServer({ noDelay: this.config.tcp_options.nodelay }, (socket: Socket) => {
      this.gate.admit(socket, { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, transport: 'tcp' })
    })
  }
}
