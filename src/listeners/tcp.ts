// Plain MQTT over TCP.
import type { Server, Socket } from 'node:net'
import type { TcpListenerConfig } from '../config/schema.js'
import { NetListener, createTcpServer, socketTransport } from './listener.js'
import type { ListenerCore } from './listener-core.js'

export class TcpListener extends NetListener<TcpListenerConfig> {
  readonly type = 'tcp'

  constructor (core: ListenerCore, name: string, config: TcpListenerConfig) {
    super(core, 'tcp', name, config)
  }

  protected createServer (): Server {
    return createTcpServer(this.config.tcp_options, (socket: Socket) => {
      this.gate.admit(socket, socketTransport(socket, 'tcp', this.port))
    })
  }
}
