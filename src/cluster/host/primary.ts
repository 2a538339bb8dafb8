// The primary process of the workers on one host (node.workers > 1): forks one worker per slot, each
// a whole broker on the same listeners (node:cluster hands them the accepted connections), and holds their
// cluster store (src/cluster/memory-store.ts), so that messages, retained messages, shared groups,
// sessions, kicks and bans reach every worker without Redis. The workers send bus payloads to each other
// over direct connections (src/cluster/host/direct.ts): the primary gives each its socket path, tells
// every worker of the others as they join and leave, and relays payloads to a worker the sender has no
// connection to yet. A worker that dies is forked again; its persistent sessions come back from its own
// durable store.
import cluster, { type Worker } from 'node:cluster'
import { CulexError } from '../../errors.js'
import type { CulexConfig } from '../../config/schema.js'
import type { Log } from '../../log.js'
import { MemoryStore } from '../memory-store.js'
import { HoldLog } from './hold-log.js'
import { BUFFER_READS, WORKER_ENV, WORKER_SOCKET_ENV, workerCount, writeFromWire, workerName, type PeerInfo, type PrimaryFigures, type PrimaryMessage, type StoreCall, type StoreOp, type StoreReturn, type WorkerMessage } from './protocol.js'
import { makeSocketDir, type SocketDir } from './socket-dir.js'

/** How long a stop waits for the workers to close cleanly before killing them. */
const STOP_TIMEOUT_MS = 10_000
/** A worker that dies this soon after its previous restart waits longer before the next one. */
const RESTART_DELAY_MS = 1000
const MAX_RESTART_DELAY_MS = 30_000

const STORE_OPS: ReadonlySet<StoreOp> = new Set<StoreOp>(['hget', 'hgetBuffer', 'hmget', 'hgetall', 'hgetallBuffer', 'lrangeBuffer', 'keys',
  'write', 'hswap', 'hsetIf', 'hdelIf', 'acquire', 'renew', 'releaseIf', 'mget'])

/** Bytes relayed to a worker and not yet written to its channel above which every worker's publishers wait, and the level they wait for. */
const RELAY_HIGH = 16 * 1024 * 1024
const RELAY_LOW = 8 * 1024 * 1024
/**
 * How long a joining worker waits for the others to acknowledge it (from then on what they broadcast
 * reaches it): one that does not answer within this is stopped or stuck, and sends nothing meanwhile.
 */
const JOIN_ACK_MS = 2000

interface Slot {
  index: number, name: string, worker: Worker | null, ready: boolean, restarts: number, lastStart: number, unsent: number
  /** Whether the worker's bus is up (a `join`): it is announced to the others, and they to it. */
  joined: boolean
  /** Its direct socket, once joined (null: it has none). */
  path: string | null
}

export class WorkerPrimary {
  readonly store = new MemoryStore()
  readonly #config: CulexConfig
  readonly #log: Log
  readonly #slots: Slot[]
  readonly #byName: Map<string, Slot>
  #stopping = false
  /** Whether the workers were told to hold their publishers (a worker reads its relayed messages too slowly). */
  #holding = false
  readonly #holdLog: HoldLog
  readonly #sockets: SocketDir | null
  /** Announcements of a joined worker not acknowledged yet by every other: ack id → who is still to answer. */
  readonly #acks = new Map<number, { waiting: Set<Slot>, done (): void }>()
  #nextAck = 1
  readonly #figures: PrimaryFigures = { relayedBytes: 0 }
  #started: { resolve (): void, reject (err: Error): void } | null = null

  constructor (config: CulexConfig, log: Log, count = workerCount(config)) {
    this.#config = config
    this.#log = log
    this.#slots = Array.from({ length: count }, (_, i) => ({ index: i + 1, name: workerName(config.node.name, i + 1), worker: null, ready: false, restarts: 0, lastStart: 0, unsent: 0, joined: false, path: null }))
    this.#byName = new Map(this.#slots.map((s) => [s.name, s]))
    this.#holdLog = new HoldLog(log, 'every worker\'s')
    this.#sockets = makeSocketDir(config.node.data_dir, count, log)
  }

  /** The workers' process ids, by slot. */
  get pids (): (number | undefined)[] {
    return this.#slots.map((s) => s.worker?.process.pid)
  }

  /** Forks every worker; resolves once all have their listeners up, rejects when one exits first. */
  start (): Promise<void> {
    cluster.setupPrimary({ serialization: 'json' })
    const started = new Promise<void>((resolve, reject) => { this.#started = { resolve, reject } })
    for (const slot of this.#slots) this.#fork(slot)
    return started
  }

  /** Passes a signal on to every worker (SIGHUP: reload TLS files and acl.conf). */
  signal (signal: NodeJS.Signals): void {
    for (const slot of this.#slots) slot.worker?.process.kill(signal)
  }

  /** SIGTERM to every worker (each closes cleanly), SIGKILL to those still running after STOP_TIMEOUT_MS. */
  async stop (): Promise<void> {
    this.#stopping = true
    const running = this.#slots.map((s) => s.worker).filter((w): w is Worker => w !== null && !w.isDead())
    const exited = running.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())))
    for (const w of running) w.process.kill('SIGTERM')
    const timer = setTimeout(() => { for (const w of running) if (!w.isDead()) w.process.kill('SIGKILL') }, STOP_TIMEOUT_MS)
    await Promise.all(exited)
    clearTimeout(timer)
    this.#sockets?.remove()
  }

  #fork (slot: Slot): void {
    slot.lastStart = Date.now()
    slot.ready = false
    slot.unsent = 0
    const env: Record<string, string> = { [WORKER_ENV]: String(slot.index) }
    if (this.#sockets) env[WORKER_SOCKET_ENV] = this.#sockets.path(slot.index)
    const worker = cluster.fork(env)
    slot.worker = worker
    worker.on('message', (m: WorkerMessage) => this.#receive(slot, worker, m))
    worker.on('exit', (code, signal) => this.#exited(slot, worker, code, signal))
    // A send to a worker whose channel just closed (it is stopping or died) fails here, not in the primary.
    worker.on('error', (err: Error) => this.#log.debug({ worker: slot.name, err: err.message }, 'workers: a message to a worker was not delivered'))
  }

  #receive (slot: Slot, from: Worker, m: WorkerMessage): void {
    switch (m.t) {
      case 'tx': {
        const rx = { t: 'rx' as const, c: m.c, p: m.p }
        if (typeof m.to === 'string') this.#relayTo(m.to, from, rx)
        else for (const name of m.to) this.#relayTo(name, from, rx)
        break
      }
      case 'switch': {
        const to = this.#byName.get(m.to)
        if (to?.worker && to.worker !== from) send(to.worker, { t: 'switch', from: slot.name, gen: m.gen })
        break
      }
      case 'join':
        this.#join(slot, from, m.id, m.path)
        break
      case 'peered': {
        const pending = this.#acks.get(m.ack)
        if (pending?.waiting.delete(slot) && pending.waiting.size === 0) pending.done()
        break
      }
      case 'figures':
        send(from, { t: 'ret', id: m.id, v: { ...this.#figures } })
        break
      case 'calls':
        void this.#calls(from, m.c)
        break
      case 'ready':
        slot.ready = true
        this.#log.info({ worker: slot.name, pid: from.process.pid }, 'workers: worker started')
        if (this.#started && this.#slots.every((s) => s.ready)) { this.#started.resolve(); this.#started = null }
        break
    }
  }

  #relayTo (name: string, from: Worker, m: Extract<PrimaryMessage, { t: 'rx' }>): void {
    const to = this.#byName.get(name)
    if (!to?.worker || to.worker === from) return
    this.#figures.relayedBytes += Buffer.byteLength(m.p, 'base64')
    this.#relay(to, to.worker, m)
  }

  /**
   * A worker's bus is up: every other joined worker hears of it, and once each has acknowledged (or
   * JOIN_ACK_MS passed, or it exited), the worker is told of the others. What it loads from the store after
   * that is all it could have missed: the others' later broadcasts reach it.
   */
  #join (slot: Slot, worker: Worker, id: number, path: string | null): void {
    slot.joined = true
    slot.path = path
    const info = this.#info(slot)
    const ack = this.#nextAck++
    const waiting = new Set<Slot>()
    for (const other of this.#slots) {
      if (other === slot || !other.joined || !other.worker) continue
      if (send(other.worker, { t: 'peer', ack, peer: info })) waiting.add(other)
    }
    const timer = setTimeout(() => done(), JOIN_ACK_MS)
    const done = () => {
      clearTimeout(timer)
      this.#acks.delete(ack)
      if (slot.worker !== worker) return
      const peers = this.#slots.filter((s) => s !== slot && s.joined && s.worker).map((s) => this.#info(s))
      send(worker, { t: 'ret', id, v: peers })
    }
    this.#acks.set(ack, { waiting, done })
    if (waiting.size === 0) done()
  }

  #info (slot: Slot): PeerInfo {
    return { node: slot.name, pid: slot.worker!.process.pid!, path: slot.path }
  }

  /**
   * process.send queues without bound: a worker that reads its channel slower than the others publish
   * would grow this process without end. Over RELAY_HIGH unsent to one worker, every worker is told to
   * hold its publishers (their reads pause); under RELAY_LOW for all, to go on.
   */
  #relay (slot: Slot, worker: Worker, m: Extract<PrimaryMessage, { t: 'rx' }>): void {
    const bytes = m.p.length
    slot.unsent += bytes
    const sent = send(worker, m, () => {
      if (slot.worker === worker) slot.unsent -= bytes
      if (this.#holding) this.#checkHold()
    })
    if (!sent) slot.unsent -= bytes
    else if (!this.#holding && slot.unsent > RELAY_HIGH) this.#checkHold()
  }

  #checkHold (): void {
    const hold = this.#holding
      ? this.#slots.some((s) => s.unsent > RELAY_LOW)
      : this.#slots.some((s) => s.unsent > RELAY_HIGH)
    if (hold === this.#holding) return
    this.#holding = hold
    if (hold) this.#holdLog.started(this.#slots.filter((s) => s.unsent > RELAY_HIGH).map((s) => s.name))
    else this.#holdLog.ended()
    for (const slot of this.#slots) if (slot.worker) send(slot.worker, { t: 'hold', on: hold })
  }

  /** A worker's batch of store operations, run in order; the answers wanted go back in one message. */
  async #calls (from: Worker, calls: StoreCall[]): Promise<void> {
    // Each starts before the next (the store applies it before its promise settles), so order holds.
    const answers: Promise<StoreReturn>[] = []
    for (const [id, op, args] of calls) {
      const run = this.#call(op, args)
      // Id 0: nobody waits for it, and only an unknown operation can fail here.
      if (id === 0) run.catch(() => {})
      else answers.push(run.then((v): StoreReturn => [id, v], (err: Error): StoreReturn => [id, undefined, err.message]))
    }
    if (answers.length > 0) send(from, { t: 'rets', r: await Promise.all(answers) })
  }

  #call (op: StoreOp, args: unknown[]): Promise<unknown> {
    if (!STORE_OPS.has(op)) return Promise.reject(new Error(`unknown store operation ${String(op)}`)) // internal: can't happen, workers send only STORE_OPS
    const run = this.store[op] as (...a: unknown[]) => Promise<unknown>
    if (op === 'write') return run.apply(this.store, (args as unknown[][]).map(writeFromWire))
    const toWire = BUFFER_READS[op]
    return toWire ? run.apply(this.store, args).then(toWire) : run.apply(this.store, args)
  }

  #exited (slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return
    if (slot.joined) {
      const gone: PrimaryMessage = { t: 'peer', ack: 0, peer: this.#info(slot), gone: true }
      for (const other of this.#slots) if (other !== slot && other.joined && other.worker) send(other.worker, gone)
    }
    slot.worker = null
    slot.unsent = 0
    slot.joined = false
    slot.path = null
    for (const pending of [...this.#acks.values()]) if (pending.waiting.delete(slot) && pending.waiting.size === 0) pending.done()
    if (this.#holding) this.#checkHold()
    // Its name is free at once: the others stop waiting for it at their next look (cluster.heartbeat_interval).
    this.store.drop(`${this.#config.cluster.redis.key_prefix}:node:${slot.name}`)
    if (this.#stopping) return
    if (this.#started) {
      this.#started.reject(new CulexError('CULEX_ERR_WORKER', `worker ${slot.name} exited during start-up (${signal ?? `code ${code}`})`))
      this.#started = null
      return
    }
    const delay = Math.min(MAX_RESTART_DELAY_MS, Date.now() - slot.lastStart < 10_000 ? RESTART_DELAY_MS * 2 ** slot.restarts++ : (slot.restarts = 0, 0))
    this.#log.error({ worker: slot.name, pid: worker.process.pid, code, signal, restart_in_ms: delay }, 'workers: a worker exited; forking it again')
    setTimeout(() => { if (!this.#stopping) this.#fork(slot) }, delay)
  }
}

/**
 * Sends to a worker still connected; one whose channel closes meanwhile reports on its 'error' event.
 * Returns whether the message was handed to the channel (`written` then runs once it is written out or failed).
 */
function send (worker: Worker, m: PrimaryMessage, written?: () => void): boolean {
  if (!worker.isConnected()) return false
  try {
    worker.send(m, undefined, undefined, written ? () => written() : undefined)
    return true
  } catch {
    // The channel closed between the check and the send: the worker is gone, and so is the message.
    return false
  }
}
