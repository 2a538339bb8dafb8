// A worker's side of the host cluster (node.workers): the cluster bus and store over the IPC channel
// to the primary process, which relays payloads to the other workers and holds the store.
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'
import { PeerBus } from '../peer-bus.js'
import type { ClusterStore, StoreWrite } from '../store.js'
import type { PrimaryMessage, StoreOp, WorkerMessage } from './protocol.js'

export class HostBus extends PeerBus {
  readonly store: ClusterStore
  readonly where = 'the primary process (node.workers)'
  protected readonly carrier = 'the primary process'
  readonly #pending = new Map<number, { resolve (v: unknown): void, reject (e: Error): void }>()
  #nextId = 1
  /** Bus payload bytes given to process.send and not yet written to the channel. */
  #unsent = 0
  /** Set while the primary holds too much for some worker (a 'hold' message). */
  #held = false
  readonly #onMessage = (m: PrimaryMessage): void => {
    if (m.t === 'rx') this.receive(m.c, m.p)
    else if (m.t === 'ret') this.#settle(m)
    else if (m.t === 'hold') {
      this.#held = m.on
      if (!m.on) this.eased()
    }
  }

  constructor (prefix: string, node: string, log: Log) {
    super(prefix, node, log)
    if (!process.send) throw new CulexError('CULEX_ERR_CLUSTER', 'a node.workers worker needs the IPC channel of the primary that forked it')
    this.store = new HostStore((op, args) => this.#call(op, args))
    process.on('message', this.#onMessage)
    process.on('disconnect', () => this.outage(new CulexError('CULEX_ERR_CLUSTER_BUS', 'IPC channel closed')))
  }

  get ready (): boolean {
    return process.connected && !this.closed
  }

  async connect (timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new CulexError('CULEX_ERR_CLUSTER_BUS', `no answer within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      await Promise.race([this.store.mget([]), timeout])
    } catch (err) {
      throw new CulexError('CULEX_ERR_CLUSTER', `cannot reach ${this.where}: ${(err as Error).message}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
    this.connected()
  }

  /** Tells the primary this worker's listeners are up. */
  listening (): void {
    this.#send({ t: 'ready' })
  }

  protected transmit (channel: string, payload: Buffer, to?: string): void {
    const bytes = payload.length
    this.#unsent += bytes
    const sent = this.#send(to === undefined ? { t: 'tx', c: channel, p: payload } : { t: 'tx', c: channel, p: payload, to }, () => {
      this.#unsent -= bytes
      this.eased()
    })
    if (!sent) this.#unsent -= bytes
  }

  protected override get backlog (): number {
    return this.#held ? Number.POSITIVE_INFINITY : this.#unsent
  }

  protected async disconnect (): Promise<void> {
    process.off('message', this.#onMessage)
    for (const { reject } of this.#pending.values()) reject(new CulexError('CULEX_ERR_CLUSTER_BUS', 'closed'))
    this.#pending.clear()
  }

  /** Returns whether the message was handed to the channel (`written` then runs once it is written out or failed). */
  #send (message: WorkerMessage, written?: () => void): boolean {
    if (!process.connected) { this.outage(); return false }
    process.send!(message, undefined, undefined, (err: Error | null) => {
      if (err) this.outage(err)
      written?.()
    })
    return true
  }

  #call (op: StoreOp, args: unknown[]): Promise<unknown> {
    if (!this.ready) return Promise.reject(new CulexError('CULEX_ERR_CLUSTER_BUS', `${this.carrier} is unreachable`))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#send({ t: 'call', id, op, args })
    })
  }

  #settle (m: Extract<PrimaryMessage, { t: 'ret' }>): void {
    const pending = this.#pending.get(m.id)
    if (!pending) return
    this.#pending.delete(m.id)
    if (m.e !== undefined) pending.reject(new CulexError('CULEX_ERR_CLUSTER_BUS', m.e))
    else pending.resolve(m.v)
  }
}

/** The cluster store, each operation run by the primary. */
class HostStore implements ClusterStore {
  readonly #call: (op: StoreOp, args: unknown[]) => Promise<unknown>

  constructor (call: (op: StoreOp, args: unknown[]) => Promise<unknown>) {
    this.#call = call
  }

  #run<T> (op: StoreOp, ...args: unknown[]): Promise<T> { return this.#call(op, args) as Promise<T> }
  hget (key: string, field: string): Promise<string | null> { return this.#run('hget', key, field) }
  hgetBuffer (key: string, field: string): Promise<Buffer | null> { return this.#run('hgetBuffer', key, field) }
  hmget (key: string, fields: string[]): Promise<(string | null)[]> { return this.#run('hmget', key, fields) }
  hgetall (key: string): Promise<Record<string, string>> { return this.#run('hgetall', key) }
  hgetallBuffer (key: string): Promise<Record<string, Buffer>> { return this.#run('hgetallBuffer', key) }
  lrangeBuffer (key: string): Promise<Buffer[]> { return this.#run('lrangeBuffer', key) }
  keys (prefix: string): Promise<string[]> { return this.#run('keys', prefix) }
  write (...writes: StoreWrite[]): Promise<void> { return this.#run('write', ...writes) }
  hsetIf (key: string, field: string, expected: string, value: string): Promise<boolean> { return this.#run('hsetIf', key, field, expected, value) }
  hdelIf (key: string, field: string, expected: string): Promise<boolean> { return this.#run('hdelIf', key, field, expected) }
  acquire (key: string, value: string, ms: number): Promise<boolean> { return this.#run('acquire', key, value, ms) }
  renew (key: string, value: string, ms: number): Promise<boolean> { return this.#run('renew', key, value, ms) }
  releaseIf (key: string, value: string): Promise<void> { return this.#run('releaseIf', key, value) }
  mget (keys: string[]): Promise<(string | null)[]> { return this.#run('mget', keys) }
}
