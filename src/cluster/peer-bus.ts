// The message bus between the nodes of a cluster, whatever carries it (Redis pub/sub, or the primary
// process of the workers on one host): a message accepted here is delivered here at once and sent to
// the other nodes that have a subscriber for it (the route table, src/cluster/routes.ts, and the
// `$share` plan), each message encoded once and those of one event-loop turn to one node in one payload
// on that node's channel; a retained message goes to every node (each keeps the retained messages).
// What they send comes back through `receive`. Publishing never waits or throws: while the carrier is
// away, local clients are served and what other nodes should have had is lost (one warning per outage).
// Named channels carry the rest (control messages, src/cluster/control.ts).
import type { Log } from '../log.js'
import type { MessageBus } from '../mqtt/bus.js'
import type { Message } from '../mqtt/message.js'
import { decodeBus, encodeWire, toWire, type Envelope, type WireShares } from './codec.js'
import type { SharePlan } from './shared.js'
import type { ClusterStore } from './store.js'

const NO_GROUPS: ReadonlySet<string> = new Set()
const NO_NODES: readonly string[] = []

/**
 * Under steady traffic, messages wait up to this long after the last payload for more to join them. Each
 * payload costs a write, the other node a wake-up and a read: sent at the end of every event-loop turn,
 * one message per turn at 20,000 a second (2 workers, spread pairs), that was a fifth of the CPU per
 * message. A message after a quiet spell (none sent for this long) still goes at the end of its turn.
 */
const LINGER_MS = 1
/** How long close() waits for the owner's last writes. */
const LAST_WRITES_MS = 2000
/** Bytes the carrier may hold unsent before publishers wait (congested()), and the level they wait for. */
export const BACKLOG_HIGH = 16 * 1024 * 1024
export const BACKLOG_LOW = 8 * 1024 * 1024

/** node.workers: payload bytes this worker wrote straight to the others, and those the primary relayed (all workers'). */
export interface BusTraffic { direct: number, relayed: number }

export abstract class PeerBus implements MessageBus {
  /** What the nodes keep in common, through the same carrier. */
  abstract readonly store: ClusterStore
  /** The carrier, for log lines and errors: "Redis (cluster.redis.servers = …)". */
  abstract readonly where: string
  /** The carrier's name in the outage warning: "Redis". */
  protected abstract readonly carrier: string
  protected readonly node: string
  protected readonly log: Log
  /** Messages for every node (retained ones), and for this node alone. */
  readonly #channel: string
  readonly #prefix: string
  readonly #handlers = new Map<string, (payload: Buffer) => void>()
  #deliver: (message: Message, groups?: ReadonlySet<string>) => void = () => {}
  #plan: (message: Message, remoteReachable: boolean) => SharePlan | undefined = () => undefined
  #route: (topic: string) => readonly string[] = () => NO_NODES
  #onBack: () => void = () => {}
  #connected = false
  #down = false
  #closed = false
  #beforeClose: (() => Promise<void>) | null = null
  /** Publishers waiting for the backlog to shrink (congested()). */
  #easeWaiters: (() => void)[] = []
  /** Encoded messages waiting for the end of this event-loop turn, for every node. */
  #everyone: Buffer[] = []
  /** The same, per node: each node's go as one payload on its own channel. */
  #direct = new Map<string, Buffer[]>()
  #scheduled = false
  /** When the last payloads were sent (performance.now()). */
  #sentAt = -LINGER_MS
  readonly #flush = (): void => {
    this.#scheduled = false
    this.#sentAt = performance.now()
    this.#flushEveryone()
    this.#flushDirect()
  }

  constructor (prefix: string, node: string, log: Log) {
    this.node = node
    this.log = log
    this.#prefix = prefix
    this.#channel = `${prefix}:msg`
    this.#handlers.set(this.#channel, (payload) => this.#receive(payload))
    this.#handlers.set(this.#nodeChannel(node), (payload) => this.#receive(payload))
  }

  #nodeChannel (node: string): string {
    return `${this.#prefix}:msg:${node}`
  }

  /** Whether payloads can be sent now. */
  abstract get ready (): boolean

  /** Reaches the carrier and listens to every channel; throws CULEX_ERR_CLUSTER when it does not answer in time. */
  abstract connect (timeoutMs: number): Promise<void>

  /** Sends a payload on a channel to the other nodes (`to`: the one node listening to it), without waiting. */
  protected abstract transmit (channel: string, payload: Buffer, to?: string): void

  /** Closes the carrier, after the last writes. */
  protected abstract disconnect (): Promise<void>

  /** Bytes handed to the carrier and not yet sent on; a carrier that cannot tell says 0. */
  protected get backlog (): number { return 0 }

  /** What crossed how, for a carrier that counts it (node.workers). */
  traffic? (): Promise<BusTraffic>

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

  /** The other nodes with a plain subscription matching a topic (the route table); set before publishing. */
  router (route: (topic: string) => readonly string[]): void {
    this.#route = route
  }

  /** Runs each time the carrier is back after an outage (what was said meanwhile was lost). */
  onBack (fn: () => void): void {
    this.#onBack = fn
  }

  publish (message: Message): void {
    const ready = this.ready
    const plan = this.#plan(message, ready)
    this.#deliver(message, plan ? groupsOf(plan.get(this.node)) : NO_GROUPS)
    const nodes = message.retain ? NO_NODES : this.#route(message.topic)
    if (!message.retain && nodes.length === 0 && (plan === undefined || (plan.size === 1 && plan.has(this.node)))) return
    if (!ready) { this.outage(); return }
    let shares: WireShares | undefined
    if (plan) {
      shares = []
      for (const [node, keys] of plan) if (node !== this.node) shares.push([node, keys])
    }
    let encoded: Buffer
    try {
      encoded = encodeWire(toWire(this.node, message, shares))
    } catch (err) {
      this.log.error({ err, topic: message.topic }, 'cluster: message not encodable; delivered on this node only')
      return
    }
    if (!this.#scheduled) this.#schedule()
    if (message.retain) {
      // In order with what went before it to each node.
      if (this.#direct.size > 0) this.#flushDirect()
      this.#everyone.push(encoded)
      return
    }
    if (this.#everyone.length > 0) this.#flushEveryone()
    for (let i = 0; i < nodes.length; i++) this.#queue(nodes[i]!, encoded)
    if (shares) for (const [node] of shares) if (!nodes.includes(node)) this.#queue(node, encoded)
  }

  #schedule (): void {
    this.#scheduled = true
    const quiet = performance.now() - this.#sentAt
    if (quiet >= LINGER_MS) setImmediate(this.#flush)
    else setTimeout(this.#flush, LINGER_MS - quiet)
  }

  #queue (node: string, encoded: Buffer): void {
    const batch = this.#direct.get(node)
    if (batch) batch.push(encoded)
    else this.#direct.set(node, [encoded])
  }

  #flushEveryone (): void {
    const batch = this.#everyone
    if (batch.length === 0) return
    this.#everyone = []
    this.send(this.#channel, batch.length === 1 ? batch[0]! : Buffer.concat(batch))
  }

  #flushDirect (): void {
    if (this.#direct.size === 0) return
    const direct = this.#direct
    this.#direct = new Map()
    for (const [node, batch] of direct) this.send(this.#nodeChannel(node), batch.length === 1 ? batch[0]! : Buffer.concat(batch), node)
  }

  /** Sends without waiting (`to`: the one node listening to the channel); while the carrier is away the payload is dropped. */
  send (channel: string, payload: Buffer, to?: string): void {
    if (!this.ready) { this.outage(); return }
    this.transmit(channel, payload, to)
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
    this.#onBack()
  }
}

function groupsOf (keys: string[] | undefined): ReadonlySet<string> {
  return keys === undefined ? NO_GROUPS : new Set(keys)
}
