// The broker's MQTT core: the connections, and the three parts they share: the session registry
// (session-registry.ts), the router (router.ts) and the retainer (retainer.ts). A message accepted here
// goes through the bus to every node's router. Packet-level logic lives in handlers/.
import type { Duplex } from 'node:stream'
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import { Alarms } from './alarms.js'
import { LocalBus, type MessageBus } from './bus.js'
import { BanList } from './banned.js'
import type { Channel, ChannelCore, ListenerContext, TransportInfo } from './channel.js'
import { Connection } from './connection.js'
import { DeadlineWheel } from './deadline-wheel.js'
import { DelayedPublisher, type DelayedRecord } from './delayed.js'
import { FlappingDetector } from './flapping.js'
import { Hooks, type ClientInfo } from './hooks.js'
import type { Message } from './message.js'
import { Metrics } from './metrics.js'
import { CulexError } from '../errors.js'
import { Retainer, type RetainedListener } from './retainer.js'
import { Router, type RouteListener, type SharedListener } from './router.js'
import { SessionRegistry, type SessionListener } from './session-registry.js'
import { MemoryRetainedStore, MemorySessionStore, type RetainedStore, type SessionStore } from './store/index.js'
import type { SessionJournal } from './store/journal.js'
import type { SessionTransfer } from './store/session-record.js'
import type { KvTable } from '../store/kv.js'

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
  /** The data store's table of delayed messages (durable_storage.backend = lmdb); restored from at construction. */
  delayedTable?: KvTable<DelayedRecord> | undefined
}

/**
 * What a cluster back-end (src/cluster/) does for the core: sessions that live on other nodes, and the
 * shared record of who holds which client and which retained messages.
 */
export interface ClusterLink extends SessionListener, RetainedListener, SharedListener, RouteListener {
  /**
   * Before CONNACK: records the client as held on this node, and takes its session from the node that
   * holds it, if another node does.
   */
  takeover (clientId: string, cleanStart: boolean): Promise<SessionTransfer | undefined>
  /** The connection closed during the takeover, and no session came of it: the client is not held here. */
  connectAbandoned (clientId: string): void
  /**
   * Before SUBACK: resolves once every other node knows this node's subscriptions as they are now, so that
   * a message published anywhere after the SUBACK reaches them; null when they already do.
   */
  routesSynced (): Promise<void> | null
  /** Whether another node (or a `$share` group anywhere) has a filter starting with this level: the route table's word. */
  listened (level: string): boolean
}

const SWEEP_INTERVAL_MS = 500

export class Core implements ChannelCore {
  readonly config: CulexConfig
  readonly log: Log
  readonly hooks: Hooks
  readonly metrics: Metrics
  /** Clients refused at CONNECT (the management API's /banned). */
  readonly banned = new BanList()
  /** flapping_detect: bans client ids that connect too often. */
  readonly flapping: FlappingDetector
  /** delayed: messages published to $delayed/{seconds}/{topic}, held until due. */
  readonly delayed: DelayedPublisher
  /** Raised and cleared alarms (the management API's /alarms). */
  readonly alarms: Alarms
  readonly router: Router
  readonly registry: SessionRegistry
  readonly retainer: Retainer
  readonly journal: SessionJournal | undefined
  /** Every open connection's channel, connected or not. */
  readonly connections = new Set<Channel>()
  readonly startedAt = Date.now()
  closing = false
  /** Set by the cluster back-end once it runs; null on a single node. */
  cluster: ClusterLink | null = null
  #bus: MessageBus
  readonly #sweepTimer: NodeJS.Timeout
  /** Every connection by its next deadline: no CONNECT within idle_timeout, or keep-alive. */
  readonly #deadlines = new DeadlineWheel<Channel>(SWEEP_INTERVAL_MS)
  /** Connections with something to look after every sweep (see attend()); the others are not visited. */
  readonly #attention = new Set<Channel>()
  readonly #deadlinePassed = (conn: Channel, now: number): void => this.#checkDeadline(conn, now)

  constructor (opts: CoreOptions) {
    this.config = opts.config
    this.log = opts.log
    this.hooks = opts.hooks ?? new Hooks()
    this.metrics = opts.metrics ?? new Metrics()
    this.alarms = new Alarms(this)
    this.journal = opts.journal
    this.flapping = new FlappingDetector({ config: this.config.flapping_detect, log: this.log, bans: this.banned })
    const sessions = opts.sessions ?? new MemorySessionStore()
    const cluster = () => this.cluster
    const clients = new Map<string, Channel>()
    this.router = new Router({
      config: this.config, log: this.log, hooks: this.hooks, metrics: this.metrics, sessions, clients,
      shared: cluster,
      subscriptionsChanged: (session) => this.registry.save(session),
    })
    this.registry = new SessionRegistry({
      config: this.config, log: this.log, hooks: this.hooks, metrics: this.metrics, sessions, clients,
      journal: this.journal, router: this.router, cluster, closing: () => this.closing, wills: this,
    })
    this.retainer = new Retainer(this.config.retainer, this.log, opts.retained ?? new MemoryRetainedStore(), this.journal, cluster)
    this.#bus = opts.bus ?? new LocalBus()
    this.#bus.onMessage((message, groups) => this.#fromBus(message, groups))
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS).unref()
    if (this.journal) this.#restore(this.journal)
    this.delayed = new DelayedPublisher({
      config: this.config.delayed, log: this.log, metrics: this.metrics, bans: this.banned,
      publish: (message) => this.publish(message, null), table: opts.delayedTable,
    })
    const delayed = this.delayed.restore()
    if (delayed > 0) this.log.notice({ delayed }, 'delayed messages restored')
  }

  /** The sessions held on this node. */
  get sessions (): SessionStore { return this.registry.sessions }
  /** Connected clients by client id. */
  get clients (): Map<string, Channel> { return this.registry.clients }
  get retained (): RetainedStore { return this.retainer.store }
  get tree () { return this.router.tree }

  /** A new connection on `socket`: its channel starts reading. */
  accept (socket: Duplex, listener: ListenerContext, transport: TransportInfo): Channel {
    const { channel } = new Connection(this, socket, listener, transport)
    this.connections.add(channel)
    this.#deadlines.add(channel, channel.createdAt + this.config.mqtt.idle_timeout + 1)
    if (this.connections.size > this.metrics.connectionsMax) this.metrics.connectionsMax = this.connections.size
    return channel
  }

  channelClosed (channel: Channel, reason: string, wasConnected: boolean): void {
    this.connections.delete(channel)
    this.#deadlines.remove(channel)
    this.#attention.delete(channel)
    if (wasConnected) this.registry.channelClosed(channel, reason)
  }

  #restore (journal: SessionJournal): void {
    const { sessions, messages } = this.registry.restore(journal)
    const retained = this.retainer.restore(journal)
    if (sessions + retained > 0) this.log.notice({ sessions, messages, retained }, 'persistent sessions and retained messages restored')
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
    if (message.retain) {
      this.retainer.retain(message, true, client?.username)
      if (this.retainer.stopsClearMessage(message)) return
    }
    this.#bus.publish(message)
  }

  /**
   * Whether a message under `$SYS` may reach anyone: only a filter starting with `$SYS` matches it
   * [MQTT-4.7.2-1], so none in this node's tree, none in the cluster's route table and no `published`
   * observer means that nobody can.
   */
  sysListened (): boolean {
    return this.hooks.published.length > 0 || this.router.tree.hasTopLevel('$SYS') || (this.cluster?.listened('$SYS') ?? false)
  }

  /** What the bus brings: another node's retained message is stored here too (core.publish stored our own). */
  #fromBus (message: Message, groups: ReadonlySet<string> | undefined): void {
    if (message.retain && message.node !== undefined && message.node !== this.config.node.name) this.retainer.retain(message, false)
    this.router.route(message, groups)
  }

  // ---- connection timers ----

  /** A client just connected: its deadline is now keep-alive's (none with Keep Alive 0). */
  watchKeepalive (conn: Channel): void {
    this.#deadlines.remove(conn)
    if (conn.keepalive > 0) this.#deadlines.add(conn, conn.lastSeen + this.#keepaliveLimit(conn) + 1)
  }

  /**
   * The channel has something the sweep looks after: messages in flight (retries, the memory budget), PUBRELs
   * awaited (await_rel_timeout), part of a packet read (the memory budget), a congestion alarm to clear. The
   * sweep forgets it once none is left; whoever adds one calls this again.
   */
  attend (conn: Channel): void {
    this.#attention.add(conn)
  }

  #keepaliveLimit (conn: Channel): number {
    return conn.keepalive * 1000 * this.config.mqtt.keepalive_multiplier
  }

  #sweep (): void {
    const now = Date.now()
    this.#deadlines.advance(now, this.#deadlinePassed)
    for (const conn of this.#attention) if (!this.#tend(conn, now)) this.#attention.delete(conn)
  }

  #checkDeadline (conn: Channel, now: number): void {
    if (conn.state === 'new' || conn.state === 'connecting') {
      const limit = this.config.mqtt.idle_timeout
      if (now - conn.createdAt <= limit) {
        this.#deadlines.add(conn, conn.createdAt + limit + 1)
        return
      }
      const err = new CulexError('CULEX_ERR_MQTT_IDLE', 'no CONNECT within mqtt.idle_timeout')
      this.log.info({ client: conn.label, code: err.code }, `closing connection: ${err.message}`)
      conn.disconnectFor(err)
      return
    }
    if (conn.state !== 'connected' || conn.keepalive <= 0) return
    const limit = this.#keepaliveLimit(conn)
    if (now - conn.lastSeen <= limit) {
      this.#deadlines.add(conn, conn.lastSeen + limit + 1)
      return
    }
    const err = new CulexError('CULEX_ERR_MQTT_KEEPALIVE', 'keep alive timeout')
    this.log.info({ client: conn.label, keepalive: conn.keepalive, code: err.code }, 'closing connection: keepalive timeout')
    conn.disconnectFor(err)
  }

  /** One sweep's care of a connection attend() named; false once it needs none. */
  #tend (conn: Channel, now: number): boolean {
    if (conn.state !== 'connected') return false
    if (conn.overMemoryBudget()) return false
    conn.checkCongestion(now)
    const mqtt = this.config.mqtt
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
    return session.inflight.size > 0 || session.awaitingRel.size > 0 || session.queueLength > 0 ||
      conn.wire.bufferedBytes > 0 || conn.congestionRaised
  }

  /** Stops timers, sends the wills that shutdown triggers, and disconnects everyone with 0x8B. */
  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
    clearInterval(this.#sweepTimer)
    this.flapping.close()
    this.delayed.close()
    this.retainer.stop()
    this.alarms.stop()
    const authorizing = this.registry.sendWillsNow()
    // Wills an asynchronous hook is authorizing go out before their subscribers are disconnected.
    if (authorizing.length > 0) await Promise.all(authorizing)
    const shutdown = new CulexError('CULEX_ERR_MQTT_SHUTDOWN', 'server shutting down')
    for (const conn of [...this.connections]) conn.disconnectFor(shutdown)
    await this.#bus.close()
  }
}
