// The message bus between the nodes of a cluster, whatever carries it (Redis pub/sub, or the primary
// process of the workers on one host): a message accepted here is delivered here at once and sent to
// the other nodes, those of one event-loop turn in one payload; what they send comes back through
// `receive`. Publishing never waits or throws: while the carrier is away, local clients are served and
// what other nodes should have had is lost (one warning per outage). Named channels carry the rest
// (control messages, src/cluster/control.ts).
import type { Log } from '../log.js'
import type { MessageBus } from '../mqtt/bus.js'
import type { Message } from '../mqtt/message.js'
import { decodeBus, encodeBatch, toWire, type Envelope, type WireMessage, type WireShares } from './codec.js'
import type { SharePlan } from './shared.js'
import type { ClusterStore } from './store.js'

const NO_GROUPS: ReadonlySet<string> = new Set()

/** How long close() waits for the owner's last writes. */
const LAST_WRITES_MS = 2000
/** Bytes the carrier may hold unsent before publishers wait (congested()), and the level they wait for. */
const BACKLOG_HIGH = 16 * 1024 * 1024
const BACKLOG_LOW = 8 * 1024 * 1024

export abstract class PeerBus implements MessageBus {
  /** What the nodes keep in common, through the same carrier. */
  abstract readonly store: ClusterStore
  /** The carrier, for log lines and errors: "Redis (cluster.redis.servers = …)". */
  abstract readonly where: string
  /** The carrier's name in the outage warning: "Redis". */
  protected abstract readonly carrier: string
  protected readonly node: string
  protected readonly log: Log
  readonly #channel: string
  readonly #handlers = new Map<string, (payload: Buffer) => void>()
  #deliver: (message: Message, groups?: ReadonlySet<string>) => void = () => {}
  #plan: (message: Message, remoteReachable: boolean) => SharePlan | undefined = () => undefined
  #connected = false
  #down = false
  #closed = false
  #beforeClose: (() => Promise<void>) | null = null
  /** Publishers waiting for the backlog to shrink (congested()). */
  #easeWaiters: (() => void)[] = []
  /** Messages waiting for the end of this event-loop turn, sent as one payload. */
  #batch: WireMessage[] = []
  readonly #flush = (): void => {
    const batch = this.#batch
    if (batch.length === 0) return
    this.#batch = []
    this.send(this.#channel, this.#encode(batch))
  }

  constructor (prefix: string, node: string, log: Log) {
    this.node = node
    this.log = log
    this.#channel = `${prefix}:msg`
    this.#handlers.set(this.#channel, (payload) => this.#receive(payload))
  }

  /** Whether payloads can be sent now. */
  abstract get ready (): boolean

  /** Reaches the carrier and listens to every channel; throws CULEX_ERR_CLUSTER when it does not answer in time. */
  abstract connect (timeoutMs: number): Promise<void>

  /** Sends a payload on a channel to the other nodes, without waiting. */
  protected abstract transmit (channel: string, payload: Buffer): void

  /** Closes the carrier, after the last writes. */
  protected abstract disconnect (): Promise<void>

  /** Bytes handed to the carrier and not yet sent on; a carrier that cannot tell says 0. */
  protected get backlog (): number { return 0 }

  congested (): Promise<void> | null {
    if (this.backlog <= BACKLOG_HIGH || this.#closed) return null
    return new Promise((resolve) => this.#easeWaiters.push(resolve))
  }

  /** The carrier calls this as its backlog shrinks: waiting publishers go on once it is down to BACKLOG_LOW. */
  protected eased (): void {
    if (this.#easeWaiters.length === 0 || (this.backlog > BACKLOG_LOW && !this.#closed && !this.#down)) return
    const waiters = this.#easeWaiters
    this.#easeWaiters = []
    for (const resolve of waiters) resolve()
  }

  /** The channels listened to (the carrier subscribes them on connect). */
  protected get channels (): string[] {
    return [...this.#handlers.keys()]
  }

  /** Another channel to listen to; call before connect(). */
  listen (channel: string, handler: (payload: Buffer) => void): void {
    this.#handlers.set(channel, handler)
  }

  /** Who serves the `$share` groups a message matches (the cluster's shared view); set before publishing. */
  sharePlanner (plan: (message: Message, remoteReachable: boolean) => SharePlan | undefined): void {
    this.#plan = plan
  }

  publish (message: Message): void {
    const ready = this.ready
    const plan = this.#plan(message, ready)
    this.#deliver(message, plan ? groupsOf(plan.get(this.node)) : NO_GROUPS)
    if (!ready) { this.outage(); return }
    let shares: WireShares | undefined
    if (plan) {
      shares = []
      for (const [node, keys] of plan) if (node !== this.node) shares.push([node, keys])
    }
    if (this.#batch.length === 0) setImmediate(this.#flush)
    this.#batch.push(toWire(this.node, message, shares))
  }

  /** The batch as one payload; a message that cannot be encoded is left out (and logged), not the batch. */
  #encode (batch: WireMessage[]): Buffer {
    try {
      return encodeBatch(batch)
    } catch {
      // Found and logged message by message below.
      return encodeBatch(batch.filter((wire) => {
        try {
          encodeBatch([wire])
          return true
        } catch (err) {
          this.log.error({ err, topic: wire[1] }, 'cluster: message not encodable; delivered on this node only')
          return false
        }
      }))
    }
  }

  /** Sends without waiting; while the carrier is away the payload is dropped. */
  send (channel: string, payload: Buffer): void {
    if (!this.ready) { this.outage(); return }
    this.transmit(channel, payload)
  }

  onMessage (deliver: (message: Message, groups?: ReadonlySet<string>) => void): void {
    this.#deliver = deliver
  }

  /** Runs once, just before the carrier closes: the owner's last writes. */
  beforeClose (fn: () => Promise<void>): void {
    this.#beforeClose = fn
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#flush()
    const last = this.#beforeClose
    this.#beforeClose = null
    if (last && this.ready) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, LAST_WRITES_MS) })
      const done = last().catch((err: unknown) => this.log.warning({ err }, `cluster: last writes to ${this.carrier} failed: ${(err as Error).message}`))
      await Promise.race([done, late])
      clearTimeout(timer)
    }
    this.#closed = true
    this.eased()
    await this.disconnect()
  }

  protected get closed (): boolean {
    return this.#closed
  }

  protected connected (): void {
    this.#connected = true
  }

  /** A payload the carrier brought on a channel. */
  protected receive (channel: string, payload: Buffer): void {
    this.#handlers.get(channel)?.(payload)
  }

  #receive (payload: Buffer): void {
    let envelopes: Envelope[]
    try {
      envelopes = decodeBus(payload)
    } catch (err) {
      this.log.warning({ err }, 'cluster: undecodable message on the bus ignored')
      return
    }
    for (const { message, shares } of envelopes) {
      if (message.node === this.node) continue
      let groups = NO_GROUPS
      if (shares) for (const [node, keys] of shares) if (node === this.node) groups = groupsOf(keys)
      try {
        this.#deliver(message, groups)
      } catch (err) {
        this.log.error({ err, topic: message.topic, node: message.node }, 'cluster: routing a message from another node failed')
      }
    }
  }

  protected outage (err?: Error): void {
    if (!this.#connected || this.#closed || this.#down) return
    this.#down = true
    this.log.warning({ where: this.where, err: err?.message },
      `cluster: ${this.carrier} is unreachable; local clients are served, messages to and from other nodes are lost until it is back`)
    this.eased()
  }

  protected back (): void {
    if (!this.#down || !this.ready) return
    this.#down = false
    this.log.notice({ where: this.where }, `cluster: ${this.carrier} is reachable again`)
  }
}

function groupsOf (keys: string[] | undefined): ReadonlySet<string> {
  return keys === undefined ? NO_GROUPS : new Set(keys)
}
