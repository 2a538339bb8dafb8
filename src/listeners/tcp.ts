// Plain MQTT over TCP.
import { createServer, type Server, type Socket } from 'node:net'
import type { TcpListenerConfig } from '../config/schema.js'
import type { Core } from '../mqtt/core.js'
import { ConnectionGate, type Listener } from './listener.js'
import { listen, close } from './net-util.js'

export class TcpListener implements Listener {
  readonly type = 'tcp'
  readonly name: string
  readonly id: string
  readonly mountpoint: string
  readonly enabled: boolean
  readonly #config: TcpListenerConfig
  readonly #gate: ConnectionGate
  #server: Server | null = null

  constructor (core: Core, name: string, config: TcpListenerConfig) {
    this.name = name
    this.id = `tcp:${name}`
    this.mountpoint = config.mountpoint
    this.enabled = config.enable
    this.#config = config
    this.#gate = new ConnectionGate(core, this, config.max_connections)
  }

  get running (): boolean { return this.#server?.listening ?? false }
  get connectionCount (): number { return this.#gate.size }

  address () {
    const a = this.#server?.address()
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null
  }

  async start (): Promise<void> {
    const server = createServer({ noDelay: this.#config.tcp_options.nodelay }, (socket: Socket) => {
      this.#gate.admit(socket, { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, transport: 'tcp' })
    })
    await listen(server, this.#config.bind, this.#config.tcp_options.backlog, this.id)
    this.#server = server
  }

  async stop (graceMs = 0): Promise<void> {
    const server = this.#server
    this.#server = null
    const closed = server ? close(server) : Promise.resolve()
    await this.#gate.drain(graceMs)
    await closed
  }
}
