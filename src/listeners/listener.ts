// What every listener offers the broker; TLS listeners (ssl, wss) implement the same shape.
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { AccessRule } from '../config/access-rules.js'
import type { BindAddress, Rate } from '../config/types.js'
import type { Core } from '../mqtt/core.js'
import type { ListenerContext, TransportInfo } from '../mqtt/connection.js'
import { AcceptGuard } from './accept-guard.js'
import { AccessRules } from './access-rules.js'
import { close, listen } from './net-util.js'

export interface Listener extends ListenerContext {
  readonly type: string
  readonly name: string
  readonly enabled: boolean
  readonly running: boolean
  readonly connectionCount: number
  /** The bound address once started (port 0 resolved). */
  address (): { host: string, port: number } | null
  start (): Promise<void>
  /** Stops accepting, gives open connections `graceMs` to end, then closes them. */
  stop (graceMs?: number): Promise<void>
}

/** Connection accounting shared by all listener types: max_connections and the open-socket set. */
export class ConnectionGate {
  readonly #sockets = new Set<Duplex>()
  readonly #max: number
  readonly #core: Core
  readonly #context: ListenerContext

  constructor (core: Core, context: ListenerContext, max: number) {
    this.#core = core
    this.#context = context
    this.#max = max
  }

  get size (): number { return this.#sockets.size }

  /** Hands a new stream to the MQTT core, or closes it when the listener is full. */
  admit (stream: Duplex, transport: TransportInfo): void {
    if (this.#core.closing) {
      stream.destroy()
      return
    }
    if (this.#sockets.size >= this.#max) {
      this.#core.log.warning({ listener: this.#context.id, peer: `${transport.remoteAddress}:${transport.remotePort}`, max: this.#max },
        'connection refused: listener at max_connections')
      this.#core.metrics.connectionsRefused++
      stream.destroy()
      return
    }
    this.#sockets.add(stream)
    stream.once('close', () => this.#sockets.delete(stream))
    this.#core.accept(stream, this.#context, transport)
  }

  /** Waits up to `graceMs` for the connections to end by themselves, then destroys the rest. */
  async drain (graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs
    while (this.#sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    for (const s of this.#sockets) s.destroy()
  }
}

export interface TcpOptions { nodelay: boolean, backlog: number, keepalive: string }

/** The settings every socket-server listener has. */
export interface NetListenerConfig {
  enable: boolean
  bind: BindAddress
  mountpoint: string
  max_connections: number
  max_conn_rate: Rate | null
  messages_rate: Rate | null
  bytes_rate: Rate | null
  tcp_options: TcpOptions
  access_rules: AccessRule[]
}

/** A net.Server whose sockets get tcp_options (Nagle off, TCP keepalive) before `onSocket`. */
export function createTcpServer (options: TcpOptions, onSocket: (socket: Socket) => void): Server {
  // EMQX writes keepalive as "idle,interval,probes" in seconds; Node can set only the idle time.
  const idle = options.keepalive === 'none' ? 0 : Number(options.keepalive.split(',')[0])
  return createServer({ noDelay: options.nodelay }, (socket: Socket) => {
    if (idle > 0) socket.setKeepAlive(true, idle * 1000)
    onSocket(socket)
  })
}

/** A listener on a Node server (net, http, tls, https): binding, accounting and graceful stop. */
export abstract class NetListener<C extends NetListenerConfig> implements Listener {
  abstract readonly type: string
  readonly name: string
  readonly id: string
  readonly mountpoint: string
  readonly messagesRate: Rate | null
  readonly bytesRate: Rate | null
  readonly enabled: boolean
  protected readonly core: Core
  protected readonly config: C
  protected readonly gate: ConnectionGate
  #server: Server | null = null
  #guard: AcceptGuard | null = null

  constructor (core: Core, type: string, name: string, config: C) {
    this.name = name
    this.id = `${type}:${name}`
    this.mountpoint = config.mountpoint
    this.messagesRate = config.messages_rate
    this.bytesRate = config.bytes_rate
    this.enabled = config.enable
    this.core = core
    this.config = config
    this.gate = new ConnectionGate(core, this, config.max_connections)
  }

  get running (): boolean { return this.#server?.listening ?? false }
  get connectionCount (): number { return this.gate.size }

  address () {
    const a = this.#server?.address()
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null
  }

  /** A server whose connections go to `this.gate.admit`. */
  protected abstract createServer (): Server

  /** Closes what the subclass added once the connections are gone. */
  protected afterDrain (_server: Server | null): void {}

  /** Asynchronous set-up before the server is created (reading a certificate store, ...). */
  protected async prepare (): Promise<void> {}

  async start (): Promise<void> {
    await this.prepare()
    const server = this.createServer()
    this.#guard = AcceptGuard.create(this.core, this.id, this.config.max_conn_rate, this.config.tcp_options.backlog, AccessRules.create(this.config.access_rules))
    this.#guard?.install(server)
    await listen(server, this.config.bind, this.config.tcp_options.backlog, this.id)
    this.#server = server
  }

  async stop (graceMs = 0): Promise<void> {
    const server = this.#server
    this.#server = null
    const closed = server ? close(server) : Promise.resolve()
    this.#guard?.close()
    await this.gate.drain(graceMs)
    this.afterDrain(server)
    await closed
  }
}
