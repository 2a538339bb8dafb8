// A worker's side of the host cluster (node.workers): the cluster bus over direct connections to the
// other workers (direct.ts), through the primary process while a connection is not up yet, and the
// cluster store over the IPC channel to the primary, which holds it.
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'
import { BACKLOG_HIGH, BACKLOG_LOW, PeerBus, type BusTraffic } from '../peer-bus.js'
import type { ClusterStore, StoreWrite } from '../store.js'
import { DirectLinks } from './direct.js'
import { HoldLog } from './hold-log.js'
import { WORKER_SOCKET_ENV, writeToWire, type PeerInfo, type PrimaryFigures, type PrimaryMessage, type StoreCall, type StoreOp, type WorkerMessage } from './protocol.js'

/** A worker holding more than this unsent for another is named in the hold's log line. */
const BEHIND_BYTES = 1024 * 1024

export class HostBus extends PeerBus {
  readonly store: ClusterStore
  readonly where = 'the primary process (node.workers)'
  protected readonly carrier = 'the primary process'
  readonly #pending = new Map<number, { resolve (v: unknown): void, reject (e: Error): void }>()
  #nextId = 1
  /** Store operations asked this turn, sent together at its end (setImmediate) or before any other message. */
  #calls: StoreCall[] = []
  readonly #flushCalls = (): void => {
    const calls = this.#calls
    if (calls.length === 0) return
    this.#calls = []
    if (this.#send({ t: 'calls', c: calls })) return
    for (const [id] of calls) if (id !== 0) this.#settle(id, undefined, `${this.carrier} is unreachable`)
  }
  /** Bus payload bytes given to process.send and not yet written to the channel. */
  #unsent = 0
  /** Set while the primary holds too much for some worker (a 'hold' message). */
  #held = false
  readonly #links: DirectLinks
  /** Message channels (a first message to a worker opens a direct connection to it; control notices alone do not). */
  readonly #messages: string
  /** Whether this worker's publishers wait because another worker takes what is written to it too slowly. */
  #holding = false
  readonly #holdLog: HoldLog
  readonly #onMessage = (m: PrimaryMessage): void => {
    switch (m.t) {
      case 'rx': this.receive(m.c, Buffer.from(m.p, 'base64')); break
      case 'ret': this.#settle(m.id, m.v, m.e); break
      case 'rets': for (const [id, v, e] of m.r) this.#settle(id, v, e); break
      case 'hold':
        this.#held = m.on
        if (!m.on) this.eased()
        break
      case 'peer':
        if (m.gone) { this.#links.gone(m.peer); this.#drained() } else {
          this.#links.peer(m.peer)
          this.#send({ t: 'peered', ack: m.ack })
        }
        break
      case 'switch': this.#links.switchFrom(m.from, m.gen); break
    }
  }

  constructor (prefix: string, node: string, log: Log) {
    super(prefix, node, log)
    if (!process.send) throw new CulexError('CULEX_ERR_CLUSTER', 'a node.workers worker needs the IPC channel of the primary that forked it')
    this.store = new HostStore((op, args, answered) => this.#call(op, args, answered))
    this.#messages = `${prefix}:msg`
    this.#holdLog = new HoldLog(log, 'this worker\'s')
    this.#links = new DirectLinks(node, process.env[WORKER_SOCKET_ENV] ?? null, log, {
      receive: (channel, payload) => this.receive(channel, payload),
      switched: (to, gen) => this.#send({ t: 'switch', to, gen }),
      drained: () => this.#drained(),
    })
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
      const path = await this.#links.listen()
      // Once the others have heard of this worker, what they broadcast reaches it: it loads the store after.
      const peers = await Promise.race([this.#request<PeerInfo[]>({ t: 'join', id: 0, path }), timeout])
      for (const peer of peers) this.#links.peer(peer)
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
    const connect = channel.startsWith(this.#messages)
    if (to !== undefined) {
      if (!this.#links.write(to, channel, payload, connect)) this.#relay(channel, payload, to)
    } else {
      let rest: string[] | null = null
      for (const node of this.#links.nodes()) {
        if (!this.#links.write(node, channel, payload, connect)) (rest ??= []).push(node)
      }
      if (rest !== null) this.#relay(channel, payload, rest.length === 1 ? rest[0]! : rest)
    }
    if (!this.#holding && this.#links.backlog > BACKLOG_HIGH) {
      this.#holding = true
      this.#holdLog.started(this.#links.behind(BEHIND_BYTES))
    }
  }

  /** Through the primary, to workers without a direct connection (yet). */
  #relay (channel: string, payload: Buffer, to: string | string[]): void {
    const bytes = payload.length
    this.#unsent += bytes
    const sent = this.#send({ t: 'tx', c: channel, p: payload.toString('base64'), to }, () => {
      this.#unsent -= bytes
      this.eased()
    })
    if (!sent) this.#unsent -= bytes
  }

  #drained (): void {
    this.eased()
    if (this.#holding && this.#links.backlog <= BACKLOG_LOW) {
      this.#holding = false
      this.#holdLog.ended()
    }
  }

  protected override get backlog (): number {
    return this.#held ? Number.POSITIVE_INFINITY : this.#unsent + this.#links.backlog
  }

  override async traffic (): Promise<BusTraffic> {
    const figures = await this.#request<PrimaryFigures>({ t: 'figures', id: 0 })
    return { direct: this.#links.bytes, relayed: figures.relayedBytes }
  }

  protected async disconnect (): Promise<void> {
    this.#links.close()
    process.off('message', this.#onMessage)
    for (const { reject } of this.#pending.values()) reject(new CulexError('CULEX_ERR_CLUSTER_BUS', 'closed'))
    this.#pending.clear()
  }

  /** Returns whether the message was handed to the channel (`written` then runs once it is written out or failed). */
  #send (message: WorkerMessage, written?: () => void): boolean {
    if (!process.connected) { this.outage(); return false }
    // What this worker asked the store goes first: whatever it sends after sees it applied.
    if (this.#calls.length > 0 && message.t !== 'calls') this.#flushCalls()
    process.send!(message, undefined, undefined, (err: Error | null) => {
      if (err) this.outage(err)
      written?.()
    })
    return true
  }

  /** Asks the primary; the answer is the `ret` with the message's id (set here). */
  #request<T> (message: Extract<WorkerMessage, { id: number }>): Promise<T> {
    if (!this.ready) return Promise.reject(new CulexError('CULEX_ERR_CLUSTER_BUS', `${this.carrier} is unreachable`))
    message.id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(message.id, { resolve: resolve as (v: unknown) => void, reject })
      this.#send(message)
    })
  }

  /**
   * A store operation, sent with the others of this turn; `answered` false: nobody waits for its result,
   * the primary sends none, and the promise resolves at once (what this worker asks next sees it applied).
   */
  #call (op: StoreOp, args: unknown[], answered: boolean): Promise<unknown> {
    if (!this.ready) return Promise.reject(new CulexError('CULEX_ERR_CLUSTER_BUS', `${this.carrier} is unreachable`))
    if (this.#calls.length === 0) setImmediate(this.#flushCalls)
    if (!answered) {
      this.#calls.push([0, op, args])
      return Promise.resolve()
    }
    const id = this.#nextId++
    this.#calls.push([id, op, args])
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }))
  }

  #settle (id: number, value: unknown, error: string | undefined): void {
    const pending = this.#pending.get(id)
    if (!pending) return
    this.#pending.delete(id)
    if (error !== undefined) pending.reject(new CulexError('CULEX_ERR_CLUSTER_BUS', error))
    else pending.resolve(value)
  }
}

/** The cluster store, each operation run by the primary. */
class HostStore implements ClusterStore {
  readonly #call: (op: StoreOp, args: unknown[], answered: boolean) => Promise<unknown>

  constructor (call: (op: StoreOp, args: unknown[], answered: boolean) => Promise<unknown>) {
    this.#call = call
  }

  #run<T> (op: StoreOp, ...args: unknown[]): Promise<T> { return this.#call(op, args, true) as Promise<T> }
  hget (key: string, field: string): Promise<string | null> { return this.#run('hget', key, field) }
  async hgetBuffer (key: string, field: string): Promise<Buffer | null> {
    const value = await this.#run<string | null>('hgetBuffer', key, field)
    return value === null ? null : Buffer.from(value, 'base64')
  }

  hmget (key: string, fields: string[]): Promise<(string | null)[]> { return this.#run('hmget', key, fields) }
  hgetall (key: string): Promise<Record<string, string>> { return this.#run('hgetall', key) }
  async hgetallBuffer (key: string): Promise<Record<string, Buffer>> {
    const all = await this.#run<Record<string, string>>('hgetallBuffer', key)
    return Object.fromEntries(Object.entries(all).map(([field, value]) => [field, Buffer.from(value, 'base64')]))
  }

  async lrangeBuffer (key: string): Promise<Buffer[]> {
    return (await this.#run<string[]>('lrangeBuffer', key)).map((value) => Buffer.from(value, 'base64'))
  }

  keys (prefix: string): Promise<string[]> { return this.#run('keys', prefix) }
  write (...writes: StoreWrite[]): Promise<void> { return this.#run('write', ...writes.map(writeToWire)) }
  post (...writes: StoreWrite[]): Promise<void> { return this.#call('write', writes.map(writeToWire), false) as Promise<void> }
  hswap (key: string, field: string, value: string): Promise<string | null> { return this.#run('hswap', key, field, value) }
  hsetIf (key: string, field: string, expected: string, value: string): Promise<boolean> { return this.#run('hsetIf', key, field, expected, value) }
  hdelIf (key: string, field: string, expected: string): Promise<boolean> { return this.#run('hdelIf', key, field, expected) }
  acquire (key: string, value: string, ms: number): Promise<boolean> { return this.#run('acquire', key, value, ms) }
  renew (key: string, value: string, ms: number): Promise<boolean> { return this.#run('renew', key, value, ms) }
  releaseIf (key: string, value: string): Promise<void> { return this.#run('releaseIf', key, value) }
  mget (keys: string[]): Promise<(string | null)[]> { return this.#run('mget', keys) }
}
