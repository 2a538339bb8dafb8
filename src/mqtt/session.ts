// A client's session state: subscriptions, messages in flight both ways, and the queue.
// It outlives connections when Session Expiry Interval (or clean_session = false) says so.
import type { QoS } from 'mqtt-packet'
import type { ClientInfo } from './hooks.js'
import { setLongTimeout, type LongTimeout } from './long-timeout.js'
import { deliveryBytes, messageBytes, ownPayload, SizedMap, subscriptionBytes } from './memory.js'
import { isExpired, type Message } from './message.js'
import { PriorityQueue, type QueuePriorities } from './mqueue-priority.js'
import type { SharedGroup, Subscription } from './topic-tree.js'

/** An arrival time pins no memory of its own (one function for every session, not a closure each). */
const noBytes = (): number => 0

/** One message on its way to this session's client. */
export interface Delivery {
  message: Message
  qos: QoS
  /** RETAIN flag as sent to this client. */
  retain: boolean
  /** Subscription Identifiers of the matching subscriptions (MQTT 5). */
  subIds: number[] | undefined
  /** The shared group it came through, so it can go to another member if this one leaves. */
  group: SharedGroup<Session> | undefined
  packetId: number
  /** 'publish' until PUBREC (QoS 2), then 'pubrel'. */
  state: 'publish' | 'pubrel'
  sentAt: number
  /** Its key in the session journal while a persistent session holds it (durable storage). */
  key?: string | undefined
}

/** What a session needs from the connection currently attached to it. */
export interface SessionLink {
  /** How many QoS 1/2 messages may be unacknowledged at once. */
  readonly sendWindow: number
  sendPublish (d: Delivery, dup: boolean): void
  sendPubrel (packetId: number): void
  /** Messages are in flight now: retries and limits need looking after. */
  attend (): void
}

/** Where a persistent session's QoS 1/2 deliveries are written down (store/journal.ts on disk). */
export interface DeliveryJournal {
  add (clientId: string, d: Delivery): void
  remove (d: Delivery): void
  /** A QoS 2 delivery moved on to PUBREL. */
  released (d: Delivery): void
}

export interface WillMessage {
  message: Message
  /** Will Delay Interval, seconds. */
  delay: number
  /** The client as it authenticated: the will is authorized as its PUBLISH would be, when it is sent. */
  client: ClientInfo
}

/** Where a cluster keeps a persistent session's offline queue, for another node to continue it (src/cluster/sessions.ts). */
export interface SessionMirror {
  queued (clientId: string, d: Delivery): void
}

export interface SessionLimits {
  maxQueue: number
  /** Bytes the queue may hold (src/mqtt/memory.ts); the oldest messages are dropped beyond. None when absent. */
  maxQueueBytes?: number
  storeQos0: boolean
  /** mqtt.mqueue_priorities (src/mqtt/mqueue-priority.ts); absent: one FIFO. */
  priorities?: QueuePriorities | null
  /** Told about every message the session drops, for the broker-wide counter. */
  onDrop?: () => void
}

export class Session {
  readonly clientId: string
  /**
   * The user name of the client that last connected to the session (null: anonymous), checked when another
   * client resumes it (mqtt.session_owner_check); undefined when unknown (a session stored before it was kept).
   */
  owner: string | null | undefined = undefined
  link: SessionLink | null = null
  /** Seconds the session outlives its connection; 0xFFFFFFFF = never expires. */
  expiryInterval = 0
  /** Full filter (with `$share/g/`) → subscription; `bytes`: what they pin. */
  readonly subscriptions = new SizedMap<string, Subscription<Session>>(subscriptionBytes)
  /** Outgoing QoS 1/2 by packet id, in send order; `bytes`: what they pin. */
  readonly inflight = new SizedMap<number, Delivery>(deliveryBytes)
  /** Incoming QoS 2 packet ids awaiting PUBREL → arrival time (a SizedMap for its Map made at first use). */
  readonly awaitingRel = new SizedMap<number, number>(noBytes)
  will: WillMessage | null = null
  /** The session's two timers, armed and stopped only through the methods below: session expiry and will delay. */
  expiryTimer: LongTimeout | null = null
  willTimer: LongTimeout | null = null
  /** Messages dropped because the queue was full or they expired. */
  dropped = 0
  /**
   * The router's mark of the last message it routed here, to find a client's overlapping subscriptions: a field,
   * not a map beside the router, because the lookup ran for every delivery and was the fan-out's largest cost.
   */
  routeStamp = 0
  /** Set while the session is persistent and storage is durable: QoS 1/2 deliveries are written to it. */
  journal: DeliveryJournal | null = null
  /** Set while the session is persistent in a cluster: QoS 1/2 messages queued while offline are copied to it. */
  mirror: SessionMirror | null = null
  readonly #limits: SessionLimits
  /** The queue without priorities: an array and the index of its oldest. */
  #queue: Delivery[] = []
  #head = 0
  /** The queue with mqtt.mqueue_priorities; null without (#queue then). */
  readonly #prio: PriorityQueue<Delivery> | null
  #queuedBytes = 0
  #nextId = 1

  constructor (clientId: string, limits: SessionLimits) {
    this.clientId = clientId
    this.#limits = limits
    this.#prio = limits.priorities ? new PriorityQueue<Delivery>(limits.priorities) : null
  }

  /** Ends the session `ms` from now (Infinity: never), replacing an armed expiry. */
  armExpiry (ms: number, expire: () => void): void {
    this.stopExpiry()
    if (ms !== Infinity) this.expiryTimer = setLongTimeout(expire, ms)
  }

  stopExpiry (): void {
    if (this.expiryTimer) { this.expiryTimer.cancel(); this.expiryTimer = null }
  }

  /** Sends the will `ms` from now, replacing an armed will delay. */
  armWill (ms: number, send: () => void): void {
    this.stopWill()
    this.willTimer = setLongTimeout(() => {
      this.willTimer = null
      send()
    }, ms)
  }

  /** Stops the will delay; returns whether one was armed (its will not yet sent). */
  stopWill (): boolean {
    if (!this.willTimer) return false
    this.willTimer.cancel()
    this.willTimer = null
    return true
  }

  get queueLength (): number { return this.#prio === null ? this.#queue.length - this.#head : this.#prio.length }

  /** What the queued messages pin (src/mqtt/memory.ts). */
  get queuedBytes (): number { return this.#queuedBytes }

  /** What the session pins in memory: subscriptions, messages in flight and queued, its will (src/mqtt/memory.ts). */
  get pinnedBytes (): number {
    return this.subscriptions.bytes + this.inflight.bytes + this.#queuedBytes + (this.will === null ? 0 : messageBytes(this.will.message))
  }

  /** Sends now when the window allows, else queues (dropping the oldest beyond max_mqueue_len or max_heap_size). */
  deliver (d: Delivery): boolean {
    if (this.journal !== null && d.qos !== 0) this.journal.add(this.clientId, d)
    const link = this.link
    if (link) {
      if (d.qos === 0) { link.sendPublish(d, false); return true }
      if (this.queueLength === 0 && this.inflight.size < link.sendWindow) { this.#send(link, d); return true }
    } else if (d.qos === 0) {
      if (!this.#limits.storeQos0) { this.#drop(d); return false }
    } else if (this.mirror !== null) {
      this.mirror.queued(this.clientId, d)
    }
    return this.#enqueue(d)
  }

  /** Fills the send window from the queue; call after an acknowledgement or on reconnect. */
  pump (now = Date.now()): void {
    const link = this.link
    if (!link) return
    while (this.queueLength > 0 && this.inflight.size < link.sendWindow) {
      const d = this.#shift()
      if (isExpired(d.message, now)) { this.#drop(d); continue }
      if (d.qos === 0) link.sendPublish(d, false)
      else this.#send(link, d)
    }
    this.#compact()
  }

  /** Resends everything in flight, in order, as a resumed session must [MQTT-4.4.0-1]. */
  resend (): void {
    const link = this.link
    if (!link) return
    const now = Date.now()
    for (const d of this.inflight.values()) {
      d.sentAt = now
      if (d.state === 'pubrel') link.sendPubrel(d.packetId)
      else link.sendPublish(d, true)
    }
  }

  /** Removes and returns what came through shared groups, for redispatch to another member. */
  takeShared (): Delivery[] {
    const out = this.#take((d) => d.group !== undefined)
    // They go to another member, or come back here through deliver() (journaled again then).
    if (this.journal !== null) for (const d of out) this.journal.remove(d)
    return out
  }

  /** Drops the messages queued or in flight (not yet PUBREC'd) that `unwanted` picks; returns how many. */
  discard (unwanted: (d: Delivery) => boolean): number {
    const out = this.#take(unwanted)
    for (const d of out) this.#drop(d)
    return out.length
  }

  /** Takes out the deliveries `pick` selects, in flight (not yet PUBREC'd) then queued, in order. */
  #take (pick: (d: Delivery) => boolean): Delivery[] {
    // Nothing held (a clean session's client leaving, most often): nothing to take or rebuild.
    if (this.inflight.size === 0 && this.queueLength === 0) return []
    const out: Delivery[] = []
    for (const [id, d] of this.inflight) {
      if (d.state === 'publish' && pick(d)) { out.push(d); this.inflight.delete(id) }
    }
    if (this.#prio !== null) {
      for (const d of this.#prio.take(pick)) {
        out.push(d)
        this.#queuedBytes -= deliveryBytes(d)
      }
      return out
    }
    const kept: Delivery[] = []
    for (let i = this.#head; i < this.#queue.length; i++) {
      const d = this.#queue[i]!
      if (!pick(d)) { kept.push(d); continue }
      out.push(d)
      this.#queuedBytes -= deliveryBytes(d)
    }
    this.#queue = kept
    this.#head = 0
    return out
  }

  /** The queue, oldest first (with priorities: highest priority first, each oldest first). */
  * queued (): IterableIterator<Delivery> {
    if (this.#prio !== null) { yield * this.#prio.values(); return }
    for (let i = this.#head; i < this.#queue.length; i++) yield this.#queue[i]!
  }

  clearQueue (): void {
    this.#prio?.clear()
    this.#queue = []
    this.#head = 0
    this.#queuedBytes = 0
  }

  /** Finishes a QoS 1/2 delivery the client acknowledged (PUBACK, PUBCOMP, or PUBREC with an error). */
  complete (d: Delivery): void {
    this.inflight.delete(d.packetId)
    this.journal?.remove(d)
    this.pump()
  }

  /** PUBREC: the client has the message; from now on it is the PUBREL that is owed. */
  released (d: Delivery): void {
    d.state = 'pubrel'
    d.sentAt = Date.now()
    this.journal?.released(d)
  }

  /** Restores a delivery (journal after a restart, or a session from another node): with a packet id → in flight, else queued. */
  restore (d: Delivery): void {
    if (d.packetId !== 0) {
      this.inflight.set(d.packetId, d)
      if (d.packetId >= this.#nextId) this.#nextId = d.packetId === 65535 ? 1 : d.packetId + 1
    } else {
      this.#push(d)
    }
  }

  #drop (d?: Delivery): void {
    if (d !== undefined) this.journal?.remove(d)
    this.dropped++
    this.#limits.onDrop?.()
  }

  #compact (): void {
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  /**
   * Queues `d`, dropping the oldest beyond max_mqueue_len or beyond the bytes the session may pin with its
   * subscriptions and messages in flight, so that a resumed session fits its client's budget.
   */
  #enqueue (d: Delivery): boolean {
    const { maxQueue, maxQueueBytes = Number.POSITIVE_INFINITY } = this.#limits
    const bytes = deliveryBytes(d)
    const room = maxQueueBytes - (this.pinnedBytes - this.#queuedBytes)
    if (maxQueue === 0 || bytes > room) { this.#drop(d); return false }
    if (this.#prio !== null) return this.#enqueuePriority(d, bytes, maxQueue, room)
    if (this.queueLength >= maxQueue || this.#queuedBytes + bytes > room) {
      while (this.queueLength > 0 && (this.queueLength >= maxQueue || this.#queuedBytes + bytes > room)) this.#drop(this.#shift())
      // A full queue of an offline client drops from the head forever: reclaim the slots here too.
      this.#compact()
    }
    this.#push(d, bytes)
    return true
  }

  /** #enqueue with priorities: max_mqueue_len bounds each priority (as EMQX); over the bytes, the lowest priority goes first. */
  #enqueuePriority (d: Delivery, bytes: number, maxQueue: number, room: number): boolean {
    const prio = this.#prio!
    if (prio.sizeFor(d) >= maxQueue) this.#dropQueued(prio.dropOldestOf(d))
    while (this.#queuedBytes + bytes > room) {
      const victim = prio.dropLowest(d)
      if (victim === undefined) { this.#drop(d); return false }
      this.#dropQueued(victim)
    }
    this.#push(d, bytes)
    return true
  }

  #dropQueued (d: Delivery): void {
    this.#queuedBytes -= deliveryBytes(d)
    this.#drop(d)
  }

  #push (d: Delivery, bytes = deliveryBytes(d)): void {
    ownPayload(d.message)
    if (this.#prio !== null) this.#prio.push(d)
    else this.#queue.push(d)
    this.#queuedBytes += bytes
  }

  /** Takes the oldest queued delivery (the queue is not empty). */
  #shift (): Delivery {
    if (this.#prio !== null) {
      const next = this.#prio.shift()
      this.#queuedBytes -= deliveryBytes(next)
      return next
    }
    const d = this.#queue[this.#head]!
    this.#queue[this.#head++] = undefined as never
    this.#queuedBytes -= deliveryBytes(d)
    return d
  }

  #send (link: SessionLink, d: Delivery): void {
    d.packetId = this.#allocateId()
    d.state = 'publish'
    d.sentAt = Date.now()
    this.inflight.set(d.packetId, d)
    if (this.inflight.size === 1) link.attend()
    link.sendPublish(d, false)
  }

  #allocateId (): number {
    for (;;) {
      const id = this.#nextId
      this.#nextId = id === 65535 ? 1 : id + 1
      if (!this.inflight.has(id)) return id
    }
  }
}
