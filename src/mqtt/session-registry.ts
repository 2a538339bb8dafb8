// Sessions (EMQX's emqx_cm): open, take over, end, hand to or adopt from another node, restore from disk;
// connected clients by id; the session timers (expiry, will delay) are armed and stopped only here.
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import { banCovers, type Ban } from './banned.js'
import type { Channel } from './channel.js'
import type { Hooks } from './hooks.js'
import { memoryBudget } from './memory.js'
import type { Metrics } from './metrics.js'
import { CulexError } from '../errors.js'
import { RC } from './reason-codes.js'
import type { Router } from './router.js'
import { queuePriorities } from './mqueue-priority.js'
import { Session, type SessionLimits } from './session.js'
import type { SessionStore } from './store/index.js'
import type { SessionJournal } from './store/journal.js'
import { deliveryFrom, expiryLeft, NEVER_EXPIRES, serialiseSession, sessionRecord, type SessionRecord, type SessionTransfer } from './store/session-record.js'
import { publishWill, type WillContext } from './wills.js'

/** What the cluster (src/cluster/) is told of this node's sessions. */
export interface SessionListener {
  /** The client's session ended on this node (`persistent`: it was kept for another node to continue). */
  sessionEnded (clientId: string, persistent: boolean): void
  /** A session opened, changed its subscriptions or lost its connection (`disconnectedAt`): kept for another node if persistent. */
  sessionSaved (session: Session, disconnectedAt?: number): void
}

export interface SessionRegistryOptions {
  config: CulexConfig
  log: Log
  hooks: Hooks
  metrics: Metrics
  sessions: SessionStore
  /** Connected clients by client id (shared with the router). */
  clients: Map<string, Channel>
  journal: SessionJournal | undefined
  router: Router
  cluster: () => SessionListener | null
  /** Whether the broker is shutting down (a will is then sent by the shutdown, not scheduled). */
  closing: () => boolean
  wills: WillContext
}

export class SessionRegistry {
  readonly sessions: SessionStore
  /** Connected clients by client id. */
  readonly clients: Map<string, Channel>
  readonly limits: SessionLimits
  readonly #log: Log
  readonly #hooks: Hooks
  readonly #journal: SessionJournal | undefined
  readonly #router: Router
  readonly #cluster: () => SessionListener | null
  readonly #closing: () => boolean
  readonly #wills: WillContext

  constructor (opts: SessionRegistryOptions) {
    this.sessions = opts.sessions
    this.clients = opts.clients
    this.#log = opts.log
    this.#hooks = opts.hooks
    this.#journal = opts.journal
    this.#router = opts.router
    this.#cluster = opts.cluster
    this.#closing = opts.closing
    this.#wills = opts.wills
    const metrics = opts.metrics
    this.limits = {
      maxQueue: opts.config.mqtt.max_mqueue_len,
      maxQueueBytes: memoryBudget(opts.config),
      storeQos0: opts.config.mqtt.mqueue_store_qos0,
      priorities: queuePriorities(opts.config.mqtt.mqueue_priorities, opts.config.mqtt.mqueue_default_priority),
      onDrop: () => { metrics.messagesDropped++ },
    }
  }

  /** Attaches a session to a connection that passed CONNECT; returns whether one was resumed. */
  open (channel: Channel, clientId: string, cleanStart: boolean, expiryInterval: number): boolean {
    let session = this.sessions.get(clientId)
    if (session && cleanStart) {
      this.end(session)
      session = undefined
    }
    const present = session !== undefined
    if (!session) {
      session = new Session(clientId, this.limits)
      this.sessions.set(session)
    }
    session.stopExpiry()
    // A new connection before the Will Delay Interval elapsed: the will is not sent [MQTT-3.1.3-9].
    session.stopWill()
    session.will = null
    session.expiryInterval = expiryInterval
    session.owner = channel.client?.username ?? null
    session.link = channel
    channel.session = session
    this.clients.set(clientId, channel)
    this.save(session)
    if (this.#cluster()) this.#router.sharedPresence(session)
    return present
  }

  /** Writes a persistent session's record, or forgets one that is no longer persistent. */
  save (session: Session, disconnectedAt?: number): void {
    this.#cluster()?.sessionSaved(session, disconnectedAt)
    const journal = this.#journal
    if (!journal) return
    if (session.expiryInterval === 0) {
      if (session.journal) journal.dropSession(session.clientId)
      session.journal = null
      return
    }
    session.journal = journal
    journal.saveSession(sessionRecord(session, disconnectedAt))
  }

  /** Persistent sessions as the journal kept them: subscriptions, queues, expiry timers. */
  restore (journal: SessionJournal): { sessions: number, messages: number } {
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
    return { sessions, messages }
  }

  /** An offline session with its subscriptions, expiring `left` ms from now (Infinity: never). */
  #rebuild (record: SessionRecord, left: number): Session {
    const session = new Session(record.clientId, this.limits)
    session.expiryInterval = record.expiryInterval
    session.owner = record.owner
    for (const [filter, options] of record.subscriptions) this.#router.subscribe(session, { ...options, filter, subscriber: session })
    this.sessions.set(session)
    session.armExpiry(left, () => this.end(session))
    return session
  }

  /** Ends a session: its subscriptions go, a pending will is sent, shared messages go to other members. */
  end (session: Session): void {
    session.stopExpiry()
    session.stopWill()
    if (session.will) void this.publishWill(session)
    this.#remove(session, false)
  }

  /** Takes a session off this node: ended, or moved to another node (then nothing is redispatched or released). */
  #remove (session: Session, moved: boolean): void {
    session.stopExpiry()
    session.stopWill()
    session.will = null
    for (const full of session.subscriptions.keys()) this.#router.untrack(session, full)
    session.subscriptions.clear()
    session.link = null
    if (!moved) this.#router.redispatchShared(session)
    session.clearQueue()
    session.inflight.clear()
    if (session.journal) {
      this.#journal?.dropSession(session.clientId)
      session.journal = null
    }
    const persistent = session.mirror !== null
    session.mirror = null
    if (this.sessions.get(session.clientId) !== session) return
    this.sessions.delete(session.clientId)
    if (!moved) this.#cluster()?.sessionEnded(session.clientId, persistent)
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
      session.stopWill()
    }
    const channel = this.clients.get(clientId)
    if (channel) {
      const err = new CulexError('CULEX_ERR_MQTT_TAKEN_OVER', `session taken over on node ${node}`)
      this.#log.info({ client: channel.label, node, code: err.code }, 'session taken over by a connection on another node')
      channel.disconnectFor(err)
    }
    // An expiry of 0 ended the session with its connection.
    const left = this.sessions.get(clientId)
    if (!left) return undefined
    if (cleanStart) { this.end(left); return undefined }
    const transfer = serialiseSession(left)
    this.#remove(left, true)
    return transfer
  }

  /**
   * A session another node handed over (or, in a cluster, left behind when it stopped): kept here offline
   * until its client connects. False when it expired meanwhile.
   */
  adopt (transfer: SessionTransfer, now = Date.now()): boolean {
    const { record, messages, awaitingRel } = transfer
    const left = expiryLeft(record, now)
    if (left <= 0) return false
    const local = this.sessions.get(record.clientId)
    if (local) this.#remove(local, true)
    const session = this.#rebuild(record, left)
    for (const r of messages) session.restore(deliveryFrom(r))
    for (const id of awaitingRel) session.awaitingRel.set(id, Date.now())
    this.save(session, record.disconnectedAt)
    if (session.journal) this.#journalDeliveries(session)
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
    const channel = this.clients.get(clientId)
    const session = channel?.session ?? this.sessions.get(clientId)
    if (!channel && !session) return false
    if (channel) {
      this.#log.info({ client: channel.label }, 'client kicked through the management API')
      channel.disconnect(RC.ADMINISTRATIVE_ACTION, 'kicked by an administrator')
    }
    if (session && this.sessions.get(clientId) === session) this.end(session)
    return true
  }

  /**
   * Disconnects the connected clients a new ban covers, as EMQX does. The DISCONNECT reason is 0x98
   * Administrative action: 0x8A Banned is a CONNACK-only code (spec 3.14.2.1). Returns how many.
   */
  kickBanned (ban: Ban): number {
    let count = 0
    for (const channel of [...this.clients.values()]) {
      const client = channel.client
      if (!client || !banCovers(ban, client)) continue
      this.#log.info({ client: channel.label, as: ban.as, who: ban.who }, 'disconnecting a client a new ban covers')
      channel.disconnect(RC.ADMINISTRATIVE_ACTION, 'banned')
      count++
    }
    return count
  }

  /** A connected client's connection closed: its will is scheduled, its session kept or ended. */
  channelClosed (channel: Channel, reason: string): void {
    const session = channel.session
    if (!session || session.link !== channel) return
    session.link = null
    if (this.clients.get(session.clientId) === channel) this.clients.delete(session.clientId)
    this.#router.sharedPresence(session)
    this.#router.redispatchShared(session)
    if (session.will && !this.#closing()) this.#scheduleWill(session)
    if (session.expiryInterval === 0) this.end(session)
    else this.save(session, Date.now())
    if (session.expiryInterval !== 0 && session.expiryInterval !== NEVER_EXPIRES) {
      session.armExpiry(session.expiryInterval * 1000, () => this.end(session))
    }
    if (this.#log.isLevelEnabled('info')) this.#log.info({ client: channel.label, reason }, 'client disconnected')
    if (channel.client && this.#hooks.clientDisconnected.length > 0) this.#hooks.notify('clientDisconnected', channel.client, reason, channel.connInfo())
  }

  #scheduleWill (session: Session): void {
    const delay = Math.min(session.will!.delay, session.expiryInterval)
    if (delay === 0) { void this.publishWill(session); return }
    session.armWill(delay * 1000, () => { void this.publishWill(session) })
  }

  /** Sends the session's will if its client may publish it (src/mqtt/wills.ts). */
  publishWill (session: Session): void | Promise<void> {
    return publishWill(this.#wills, session)
  }

  /** At shutdown: the wills of connected clients and delayed wills go now, expiry timers stop. Returns the wills still being authorized. */
  sendWillsNow (): Promise<void>[] {
    const authorizing: Promise<void>[] = []
    for (const channel of this.clients.values()) {
      const pending = channel.session?.will ? this.publishWill(channel.session) : undefined
      if (pending) authorizing.push(pending)
    }
    for (const session of this.sessions.values()) {
      if (session.stopWill()) {
        const pending = this.publishWill(session)
        if (pending) authorizing.push(pending)
      }
      session.stopExpiry()
    }
    return authorizing
  }
}
