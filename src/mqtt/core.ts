// The broker's shared state and the operations handlers call on it: sessions, routing, retained
// messages, wills and the timers that expire them. Packet-level logic lives in handlers/.
import type { Duplex } from 'node:stream'
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import { LocalBus, type MessageBus } from './bus.js'
import { BanList } from './banned.js'
import { Connection, type ListenerContext, type TransportInfo } from './connection.js'
import { Hooks, type ClientInfo } from './hooks.js'
import { memoryBudget, ownPayload } from './memory.js'
import { isExpired, type Message } from './message.js'
import { Metrics } from './metrics.js'
import { RC } from './reason-codes.js'
import { setLongTimeout } from './long-timeout.js'
import { Session, type Delivery } from './session.js'
import { MemoryRetainedStore, MemorySessionStore, type RetainedStore, type SessionStore } from './store/index.js'
import type { SessionJournal } from './store/journal.js'
import { deliveryFrom, serialiseSession, sessionRecord, type SessionRecord, type SessionTransfer, expiryLeft, NEVER_EXPIRES } from './store/session-record.js'
import { pickMember } from './shared-pick.js'
import { publishWill } from './wills.js'
import { hasWildcard, parseShared, SHARE_PREFIX } from './topic.js'
import { TopicTree, type SharedGroup, type Subscription } from './topic-tree.js'

export interface CoreOptions {
  config: CulexConfig
  log: Log
  hooks?: Hooks
  sessions?: SessionStore
  retained?: RetainedStore
  bus?: MessageBus
  /** Durable storage of persistent sessions and retained messages; restored from at construction. */
  journal?: SessionJournal | undefined
  /** The broker-wide counters, when something made before the core (the journal) counts in them too. */
  metrics?: Metrics
}

/**
 * What a cluster back-end (src/cluster/) does for the core: sessions that live on other nodes, and the
 * shared record of who holds which client and which retained messages.
 */
export interface ClusterLink {
  /** Before CONNACK: takes the client's session from the node that holds it, if another node does. */
  takeover (clientId: string, cleanStart: boolean): Promise<SessionTransfer | undefined>
  /** This node now holds the client's session. */
  sessionOpened (clientId: string): void
  /** The client's session ended on this node (`persistent`: it was kept for another node to continue). */
  sessionEnded (clientId: string, persistent: boolean): void
  /** A session opened, changed its subscriptions or lost its connection (`disconnectedAt`): kept for another node if persistent. */
  sessionSaved (session: Session, disconnectedAt?: number): void
  /** A retained message accepted on this node was stored (an empty payload cleared the topic). */
  retained (message: Message): void
  /** This node's members of a `$share` group (or their being online) may have changed. */
  sharedChanged (group: string, filter: string): void
}


const SWEEP_INTERVAL_MS = 500

export class Core {
  readonly config: CulexConfig
  readonly log: Log
  readonly hooks: Hooks
  readonly metrics: Metrics
  /** Clients refused at CONNECT (the management API's /banned). */
  readonly banned = new BanList()
  readonly sessions: SessionStore
  readonly retained: RetainedStore
  #bus: MessageBus
  readonly journal: SessionJournal | undefined
  readonly tree = new TopicTree<Session>()
  /** Every open connection, connected or not. */
  readonly connections = new Set<Connection>()
  /** Connected clients by client id. */
  readonly clients = new Map<string, Connection>()
  readonly startedAt = Date.now()
  closing = false
  /** Set by the cluster back-end once it runs; null on a single node. */
  cluster: ClusterLink | null = null
  readonly #sweepTimer: NodeJS.Timeout
  #routeStamp = 0
  readonly #stamps = new WeakMap<Session, number>()

  constructor (opts: CoreOptions) {
    this.config = opts.config
    this.log = opts.log
    this.hooks = opts.hooks ?? new Hooks()
    this.metrics = opts.metrics ?? new Metrics()
    this.sessions = opts.sessions ?? new MemorySessionStore()
    this.retained = opts.retained ?? new MemoryRetainedStore()
    this.journal = opts.journal
    this.#bus = opts.bus ?? new LocalBus()
    this.sessionLimits.maxQueue = this.config.mqtt.max_mqueue_len
    this.sessionLimits.storeQos0 = this.config.mqtt.mqueue_store_qos0
    this.sessionLimits.maxQueueBytes = memoryBudget(this.config)
    this.#bus.onMessage((message, groups) => this.#fromBus(message, groups))
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS).unref()
    if (this.journal) this.#restore(this.journal)
  }

  readonly sessionLimits = {
    maxQueue: 0,
    maxQueueBytes: Number.POSITIVE_INFINITY,
    storeQos0: true,
    onDrop: () => { this.metrics.messagesDropped++ },
  }

  accept (socket: Duplex, listener: ListenerContext, transport: TransportInfo): Connection {
    const conn = new Connection(this, socket, listener, transport)
    this.connections.add(conn)
    if (this.connections.size > this.metrics.connectionsMax) this.metrics.connectionsMax = this.connections.size
    return conn
  }

  // ---- sessions ----

  /** Attaches a session to a connection that passed CONNECT; returns whether one was resumed. */
  openSession (conn: Connection, clientId: string, cleanStart: boolean, expiryInterval: number): boolean {
    let session = this.sessions.get(clientId)
    if (session && cleanStart) {
      this.endSession(session)
      session = undefined
    }
    const present = session !== undefined
    if (!session) {
      session = new Session(clientId, this.sessionLimits)
      this.sessions.set(session)
    }
    if (session.expiryTimer) { session.expiryTimer.cancel(); session.expiryTimer = null }
    if (session.willTimer) {
      // A new connection before the Will Delay Interval elapsed: the will is not sent [MQTT-3.1.3-9].
      session.willTimer.cancel()
      session.willTimer = null
    }
    session.will = null
    session.expiryInterval = expiryInterval
    session.owner = conn.client?.username ?? null
    session.link = conn
    conn.session = session
    this.clients.set(clientId, conn)
    this.#journalSession(session)
    if (this.cluster) {
      this.cluster.sessionOpened(clientId)
      this.#sharedPresence(session)
    }
    return present
  }

  /** Writes a persistent session's record, or forgets one that is no longer persistent. */
  #journalSession (session: Session, disconnectedAt?: number): void {
    this.cluster?.sessionSaved(session, disconnectedAt)
    const journal = this.journal
    if (!journal) return
    if (session.expiryInterval === 0) {
      if (session.journal) journal.dropSession(session.clientId)
      session.journal = null
      return
    }
    session.journal = journal
    journal.saveSession(sessionRecord(session, disconnectedAt))
  }

  /** Persistent sessions and retained messages as the journal kept them: subscriptions, queues, expiry timers. */
  #restore (journal: SessionJournal): void {
    const now = Date.now()
    let sessions = 0
    let messages = 0
    for (const [clientId, record] of journal.sessions()) {
      const left = expiryLeft(record, now)
      if (left <= 0) { journal.dropSession(clientId); continue }
      const session = this.#rebuild(record, left)
      for (const { delivery } of journal.deliveries(clientId)) { session.restore(delivery); messages++ }
      session.journal = journal
      // A session connected when the broker stopped counts its expiry from now.
      if (record.disconnectedAt === undefined) journal.saveSession({ ...record, disconnectedAt: now })
      sessions++
    }
    let retained = 0
    for (const [, message] of journal.retained()) { this.retained.set(message); retained++ }
    if (sessions + retained > 0) this.log.notice({ sessions, messages, retained }, 'persistent sessions and retained messages restored')
  }

  /** An offline session with its subscriptions, expiring `left` ms from now (Infinity: never). */
  #rebuild (record: SessionRecord, left: number): Session {
    const session = new Session(record.clientId, this.sessionLimits)
    session.expiryInterval = record.expiryInterval
    session.owner = record.owner
    for (const [filter, options] of record.subscriptions) this.subscribe(session, { ...options, filter, subscriber: session })
    this.sessions.set(session)
    if (left !== Infinity) session.expiryTimer = setLongTimeout(() => this.endSession(session), left)
    return session
  }

  /** Ends a session: its subscriptions go, a pending will is sent, shared messages go to other members. */
  endSession (session: Session): void {
    if (session.expiryTimer) { session.expiryTimer.cancel(); session.expiryTimer = null }
    if (session.willTimer) { session.willTimer.cancel(); session.willTimer = null }
    if (session.will) void this.publishWill(session)
    this.#removeSession(session, false)
  }

  /** Takes a session off this node: ended, or moved to another node (then nothing is redispatched or released). */
  #removeSession (session: Session, moved: boolean): void {
    if (session.expiryTimer) { session.expiryTimer.cancel(); session.expiryTimer = null }
    if (session.willTimer) { session.willTimer.cancel(); session.willTimer = null }
    session.will = null
    for (const full of session.subscriptions.keys()) this.#untrack(session, full)
    session.subscriptions.clear()
    session.link = null
    if (!moved) this.#redispatchShared(session)
    session.clearQueue()
    session.inflight.clear()
    if (session.journal) {
      session.journal.dropSession(session.clientId)
      session.journal = null
    }
    const persistent = session.mirror !== null
    session.mirror = null
    if (this.sessions.get(session.clientId) !== session) return
    this.sessions.delete(session.clientId)
    if (!moved) this.cluster?.sessionEnded(session.clientId, persistent)
  }

  /**
   * Another node takes this client over (cluster). Its connection here gets DISCONNECT 0x8E. With Clean
   * Start the session ends here as a local takeover would end it; otherwise it moves: removed here without
   * its will, and returned for the other node to continue.
   */
  handOver (clientId: string, cleanStart: boolean, node: string): SessionTransfer | undefined {
    const session = this.sessions.get(clientId)
    if (session && !cleanStart) {
      session.will = null
      if (session.willTimer) { session.willTimer.cancel(); session.willTimer = null }
    }
    const conn = this.clients.get(clientId)
    if (conn) {
      this.log.info({ client: conn.label, node }, 'session taken over by a connection on another node')
      conn.disconnect(RC.SESSION_TAKEN_OVER, `session taken over on node ${node}`)
    }
    // An expiry of 0 ended the session with its connection.
    const left = this.sessions.get(clientId)
    if (!left) return undefined
    if (cleanStart) { this.endSession(left); return undefined }
    const transfer = serialiseSession(left)
    this.#removeSession(left, true)
    return transfer
  }

  /**
   * A session another node handed over (or, in a cluster, left behind when it stopped): kept here offline
   * until its client connects. False when it expired meanwhile.
   */
  adoptSession (transfer: SessionTransfer, now = Date.now()): boolean {
    const { record, messages, awaitingRel } = transfer
    const left = expiryLeft(record, now)
    if (left <= 0) return false
    const local = this.sessions.get(record.clientId)
    if (local) this.#removeSession(local, true)
    const session = this.#rebuild(record, left)
    for (const r of messages) session.restore(deliveryFrom(r))
    for (const id of awaitingRel) session.awaitingRel.set(id, Date.now())
    this.#journalSession(session, record.disconnectedAt)
    if (session.journal) this.#journalDeliveries(session)
    this.cluster?.sessionOpened(record.clientId)
    return true
  }

  #journalDeliveries (session: Session): void {
    const journal = session.journal!
    for (const d of [...session.inflight.values(), ...session.queued()]) {
      if (d.qos === 0) continue
      journal.add(session.clientId, d)
      if (d.state === 'pubrel') journal.released(d)
    }
  }

  /** Kicks a client (management API): DISCONNECT 0x98, then its session is discarded. Returns whether it was known. */
  kick (clientId: string): boolean {
    const conn = this.clients.get(clientId)
    const session = conn?.session ?? this.sessions.get(clientId)
    if (!conn && !session) return false
    if (conn) {
      this.log.info({ client: conn.label }, 'client kicked through the management API')
      conn.disconnect(RC.ADMINISTRATIVE_ACTION, 'kicked by an administrator')
    }
    if (session && this.sessions.get(clientId) === session) this.endSession(session)
    return true
  }

  connectionClosed (conn: Connection, reason: string, wasConnected: boolean): void {
    this.connections.delete(conn)
    const session = conn.session
    if (!wasConnected || !session || session.link !== conn) return
    session.link = null
    if (this.clients.get(session.clientId) === conn) this.clients.delete(session.clientId)
    if (this.cluster) this.#sharedPresence(session)
    this.#redispatchShared(session)
    if (session.will && !this.closing) this.#scheduleWill(session)
    if (session.expiryInterval === 0) this.endSession(session)
    else this.#journalSession(session, Date.now())
    if (session.expiryInterval !== 0 && session.expiryInterval !== NEVER_EXPIRES) {
      session.expiryTimer = setLongTimeout(() => this.endSession(session), session.expiryInterval * 1000)
    }
    this.log.info({ client: conn.label, reason }, 'client disconnected')
    if (conn.client) this.hooks.notify('clientDisconnected', conn.client, reason)
  }

  #scheduleWill (session: Session): void {
    const will = session.will!
    const delay = Math.min(will.delay, session.expiryInterval)
    if (delay === 0) { void this.publishWill(session); return }
    session.willTimer = setLongTimeout(() => {
      session.willTimer = null
      void this.publishWill(session)
    }, delay * 1000)
  }

  /** Sends the session's will if its client may publish it (src/mqtt/wills.ts). */
  publishWill (session: Session): void | Promise<void> {
    return publishWill(this, session)
  }

  // ---- subscriptions ----

  /** Adds or replaces a subscription; returns whether it existed before (for Retain Handling 1). */
  subscribe (session: Session, sub: Subscription<Session>): boolean {
    const existed = session.subscriptions.has(sub.filter)
    session.subscriptions.set(sub.filter, sub)
    const shared = parseShared(sub.filter)
    if (shared) {
      this.tree.add(sub, shared.filter, shared.group)
      this.cluster?.sharedChanged(shared.group, shared.filter)
    } else {
      this.tree.add(sub, sub.filter)
    }
    if (session.journal || session.mirror) this.#journalSession(session)
    return existed
  }

  unsubscribe (session: Session, filter: string): boolean {
    if (!session.subscriptions.delete(filter)) return false
    this.#untrack(session, filter)
    if (session.journal || session.mirror) this.#journalSession(session)
    return true
  }

  #untrack (session: Session, filter: string): void {
    const shared = parseShared(filter)
    if (shared) {
      this.tree.remove(session, shared.filter, shared.group)
      this.cluster?.sharedChanged(shared.group, shared.filter)
    } else {
      this.tree.remove(session, filter)
    }
  }

  /** The session's connection came or went: its shared groups' online members changed (cluster). */
  #sharedPresence (session: Session): void {
    for (const filter of session.subscriptions.keys()) {
      if (!filter.startsWith(SHARE_PREFIX)) continue
      const shared = parseShared(filter)
      if (shared) this.cluster!.sharedChanged(shared.group, shared.filter)
    }
  }

  // ---- messages ----

  get bus (): MessageBus { return this.#bus }

  /** Replaces the in-process bus with a cluster's, before any client connects. */
  useBus (bus: MessageBus): void {
    this.#bus = bus
    bus.onMessage((message, groups) => this.#fromBus(message, groups))
  }

  /** Accepts a message: observers, retained store, then the bus to every node's router. */
  publish (message: Message, client: ClientInfo | null): void {
    if (this.hooks.published.length > 0) this.hooks.notify('published', message, client)
    if (message.retain) this.#retain(message, true)
    this.#bus.publish(message)
  }

  /** What the bus brings: another node's retained message is stored here too (core.publish stored our own). */
  #fromBus (message: Message, groups: ReadonlySet<string> | undefined): void {
    if (message.retain && message.node !== undefined && message.node !== this.config.node.name) this.#retain(message, false)
    this.route(message, groups)
  }

  /** Replaces the retained messages with the cluster's (a node joining), keeping the journal in step. */
  loadRetained (messages: Message[]): void {
    if (!this.config.retainer.enable) return
    const journal = this.journal
    if (journal) {
      const topics = new Set(messages.map((m) => m.topic))
      let dropped = 0
      for (const [topic, old] of [...journal.retained()]) {
        if (!topics.has(topic)) { journal.retain({ ...old, payload: Buffer.alloc(0) }); dropped++ }
      }
      if (dropped > 0) this.log.notice({ dropped }, 'retained messages kept on disk but no longer retained in the cluster dropped')
    }
    this.retained.clear()
    for (const message of messages) {
      this.retained.set(message)
      this.journal?.retain(message)
    }
  }

  #retain (message: Message, local: boolean): void {
    const cfg = this.config.retainer
    if (!cfg.enable) return
    if (message.payload.length > cfg.max_payload_size) {
      this.log.info({ topic: message.topic, size: message.payload.length }, 'retained message over retainer.max_payload_size not stored')
      return
    }
    if (message.payload.length > 0 && cfg.max_retained_messages > 0 && this.retained.size >= cfg.max_retained_messages &&
      !this.retained.get(message.topic)) {
      this.log.info({ topic: message.topic }, 'retainer.max_retained_messages reached; retained message not stored')
      return
    }
    const stored = cfg.msg_expiry_interval > 0 && message.expiresAt === 0
      ? { ...message, expiresAt: Date.now() + cfg.msg_expiry_interval }
      : message
    ownPayload(stored)
    this.retained.set(stored)
    this.journal?.retain(stored)
    if (local) this.cluster?.retained(stored)
  }

  /**
   * Delivers a message to this node's matching subscribers; returns how many sessions it reached.
   * `groups` (cluster): the only `$share` groups served here, by key; without it, every matching group.
   */
  route (message: Message, groups?: ReadonlySet<string>): number {
    if (message.expiresAt !== 0 && isExpired(message, Date.now())) return 0
    const match = this.tree.match(message.topic)
    const subs = match.subscriptions
    // Read checks per delivery only for a topic some authorization rule could deny (decided once per message);
    // `checkedAt` is then the clock reading they share (Date.now() costs more than a cached check), else 0.
    const guard = this.hooks.readGuard
    const checkedAt = guard !== undefined && guard.mayDeny(message.topic) ? Date.now() : 0
    let count = 0
    if (subs.length === 1) count += this.#deliver(subs[0]!, message, undefined, checkedAt)
    else if (subs.length > 1) count += this.#deliverMany(subs, message, checkedAt)
    for (let i = 0; i < match.groups.length; i++) {
      const group = match.groups[i]!
      if (groups === undefined || groups.has(group.key)) count += this.#deliverShared(group, message, undefined, checkedAt)
    }
    return count
  }

  /**
   * Whether a subscription may deliver a topic its filter matches: a wildcard filter was authorized as a
   * filter, so the topic is checked too. An offline session's client is unknown here; it is not checked.
   */
  #mayRead (sub: Subscription<Session>, message: Message, now: number): boolean {
    if (!hasWildcard(sub.filter)) return true
    const conn = this.clients.get(sub.subscriber.clientId)
    const client = conn?.session === sub.subscriber ? conn.client : null
    if (!client || this.hooks.readGuard!.mayRead(client, message.topic, sub.qos, now)) return true
    this.metrics.messagesDropped++
    return false
  }

  /** Overlapping subscriptions of one client get one copy, at the highest QoS, with all their identifiers. */
  #deliverMany (subs: Subscription<Session>[], message: Message, checkedAt: number): number {
    const stamp = ++this.#routeStamp
    let overlap = false
    for (let i = 0; i < subs.length; i++) {
      const session = subs[i]!.subscriber
      if (this.#stamps.get(session) === stamp) { overlap = true; break }
      this.#stamps.set(session, stamp)
    }
    let count = 0
    if (!overlap) {
      for (let i = 0; i < subs.length; i++) count += this.#deliver(subs[i]!, message, undefined, checkedAt)
      return count
    }
    const bySession = new Map<Session, { best: Subscription<Session>, ids: number[] }>()
    for (const sub of subs) {
      if ((sub.nl || this.config.mqtt.ignore_loop_deliver) && message.origin === sub.subscriber.clientId) continue
      const entry = bySession.get(sub.subscriber)
      if (!entry) { bySession.set(sub.subscriber, { best: sub, ids: sub.id ? [sub.id] : [] }); continue }
      if (sub.qos > entry.best.qos) entry.best = sub
      if (sub.id) entry.ids.push(sub.id)
    }
    for (const { best, ids } of bySession.values()) count += this.#deliver(best, message, ids.length > 0 ? ids : undefined, checkedAt)
    return count
  }

  #deliver (sub: Subscription<Session>, message: Message, ids: number[] | undefined, checkedAt: number): number {
    const session = sub.subscriber
    if ((sub.nl || this.config.mqtt.ignore_loop_deliver) && message.origin === session.clientId) return 0
    if (checkedAt !== 0 && !this.#mayRead(sub, message, checkedAt)) return 0
    return this.#handTo(session, this.#delivery(sub, message, ids ?? (sub.id ? [sub.id] : undefined), undefined))
  }

  /** Gives a delivery to one subscriber's session: 1, or 0 when that failed. */
  #handTo (session: Session, d: Delivery): number {
    try {
      session.deliver(d)
      return 1
    } catch (err) {
      this.#deliveryFailed(session, d, err)
      return 0
    }
  }

  /**
   * One subscriber's error must not cost the others the message. An encoding error is handled by the
   * connection (Connection.sendPublish); anything else leaves this client's state unknown, so only it is
   * disconnected, as EMQX's per-client process would crash alone. What it had in flight stays in its session.
   */
  #deliveryFailed (session: Session, d: Delivery, err: unknown): void {
    this.metrics.messagesDropped++
    this.metrics.deliveryErrors++
    session.dropped++
    this.log.error({ err, client: session.clientId, topic: d.message.topic }, 'delivery to a subscriber failed; the other subscribers are served')
    const conn = this.clients.get(session.clientId)
    if (conn === undefined || conn.session !== session) return
    try {
      conn.disconnect(RC.UNSPECIFIED_ERROR, 'internal error delivering a message')
    } catch (again) {
      this.log.error({ err: again, client: session.clientId }, 'disconnecting a client after a failed delivery failed')
    }
  }

  #delivery (sub: Subscription<Session>, message: Message, subIds: number[] | undefined, group: SharedGroup<Session> | undefined): Delivery {
    const qos = this.config.mqtt.upgrade_qos ? sub.qos : (message.qos < sub.qos ? message.qos : sub.qos)
    return { message, qos, retain: sub.rap && message.retain, subIds, group, packetId: 0, state: 'publish', sentAt: 0, key: undefined }
  }

  #deliverShared (group: SharedGroup<Session>, message: Message, exclude: Session | undefined, checkedAt: number): number {
    const member = pickMember(group, message, this.config.mqtt.shared_subscription_strategy, exclude)
    if (!member) return 0
    if (checkedAt !== 0 && !this.#mayRead(member, message, checkedAt)) return 0
    return this.#handTo(member.subscriber, this.#delivery(member, message, member.id ? [member.id] : undefined, group))
  }

  /** A member left: what it held from a shared group goes to another online member [EMQX redispatch]. */
  #redispatchShared (session: Session): void {
    const held = session.takeShared()
    for (const d of held) {
      const group = d.group!
      const live = this.tree.group(group.filter, group.name) ?? group
      const member = pickMember(live, d.message, this.config.mqtt.shared_subscription_strategy, session)
      if (member && member.subscriber.link) {
        this.#handTo(member.subscriber, this.#delivery(member, d.message, member.id ? [member.id] : undefined, live))
      } else if (session.link === null && this.sessions.get(session.clientId) === session && session.expiryInterval > 0) {
        // No other member online: keep it where it was.
        session.deliver({ ...d, packetId: 0, state: 'publish' })
      } else {
        session.dropped++
        this.metrics.messagesDropped++
      }
    }
  }

  // ---- timers ----

  #sweep (): void {
    const now = Date.now()
    const mqtt = this.config.mqtt
    for (const conn of this.connections) {
      if (conn.state === 'new' || conn.state === 'connecting') {
        if (now - conn.createdAt > mqtt.idle_timeout) {
          this.log.info({ client: conn.label }, 'closing connection: no CONNECT within mqtt.idle_timeout')
          conn.close('idle timeout')
        }
        continue
      }
      if (conn.state !== 'connected') continue
      if (conn.keepalive > 0 && now - conn.lastSeen > conn.keepalive * 1000 * mqtt.keepalive_multiplier) {
        this.log.info({ client: conn.label, keepalive: conn.keepalive }, 'closing connection: keepalive timeout')
        conn.disconnect(RC.KEEP_ALIVE_TIMEOUT, 'keep alive timeout')
        continue
      }
      if (conn.overMemoryBudget()) continue
      const session = conn.session!
      if (session.awaitingRel.size > 0) {
        for (const [id, at] of session.awaitingRel) if (now - at > mqtt.await_rel_timeout) session.awaitingRel.delete(id)
      }
      // MQTT 5 forbids resending except on reconnect [MQTT-4.4.0-1]; MQTT 3 clients get a retry.
      if (conn.protocolVersion !== 5 && mqtt.retry_interval > 0 && session.inflight.size > 0) {
        for (const d of session.inflight.values()) {
          if (now - d.sentAt < mqtt.retry_interval) continue
          d.sentAt = now
          if (d.state === 'pubrel') conn.sendPubrel(d.packetId)
          else conn.sendPublish(d, true)
        }
      }
    }
  }

  /** Stops timers, sends the wills that shutdown triggers, and disconnects everyone with 0x8B. */
  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
    clearInterval(this.#sweepTimer)
    const authorizing: Promise<void>[] = []
    for (const conn of this.clients.values()) {
      const pending = conn.session?.will ? this.publishWill(conn.session) : undefined
      if (pending) authorizing.push(pending)
    }
    for (const session of this.sessions.values()) {
      if (session.willTimer) {
        session.willTimer.cancel()
        session.willTimer = null
        const pending = this.publishWill(session)
        if (pending) authorizing.push(pending)
      }
      if (session.expiryTimer) { session.expiryTimer.cancel(); session.expiryTimer = null }
    }
    // Wills an asynchronous hook is authorizing go out before their subscribers are disconnected.
    if (authorizing.length > 0) await Promise.all(authorizing)
    for (const conn of [...this.connections]) conn.disconnect(RC.SERVER_SHUTTING_DOWN, 'server shutting down')
    await this.#bus.close()
  }
}
