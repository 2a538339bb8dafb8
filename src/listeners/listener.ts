// What every listener offers the broker; TLS listeners (ssl, wss) implement the same shape.
import type { Duplex } from 'node:stream'
import type { Core } from '../mqtt/core.js'
import type { ListenerContext, TransportInfo } from '../mqtt/connection.js'

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
