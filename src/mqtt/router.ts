// Routing (EMQX's emqx_broker/emqx_router): the topic tree of every session's subscriptions, `$share`
// groups, and the delivery of a message to the sessions whose filters match it.
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { ClientInfo, Hooks } from './hooks.js'
import { isExpired, type Message } from './message.js'
import type { Metrics } from './metrics.js'
import { RC } from './reason-codes.js'
import { ExclusiveLocks } from './exclusive.js'
import type { Delivery, Session } from './session.js'
import { pickMember } from './shared-pick.js'
import type { SessionStore } from './store/index.js'
import { hasWildcard, parseShared, SHARE_PREFIX } from './topic.js'
import { TopicTree, type SharedGroup, type Subscription } from './topic-tree.js'

/** A connected client as the router sees it: the session it holds, who it is, how to cut it off. */
export interface RoutedClient {
  readonly session: Session | null
  readonly client: ClientInfo | null
  disconnect (reasonCode: number, reason: string): void
}

/** What `$share` membership changes are reported to (a cluster); null on a single node. */
export interface SharedListener {
  sharedChanged (group: string, filter: string): void
}

/**
 * What changes to the set of subscribers of each plain (not `$share`) filter are reported to (a cluster,
 * whose other nodes send a message here only when one of these filters matches it); null on a single node.
 */
export interface RouteListener {
  /** A session subscribed to the filter (it had no subscription to it before). */
  filterAdded (filter: string): void
  /** A session's subscription to the filter left the tree. */
  filterRemoved (filter: string): void
}

export interface RouterOptions {
  config: CulexConfig
  log: Log
  hooks: Hooks
  metrics: Metrics
  /** The sessions held on this node (a shared message stays with an offline member only while it is held). */
  sessions: SessionStore
  /** Connected clients by client id. */
  clients: ReadonlyMap<string, RoutedClient>
  shared: () => (SharedListener & RouteListener) | null
  /** A persistent session's subscriptions changed: write it down. */
  subscriptionsChanged: (session: Session) => void
}

export class Router {
  readonly tree = new TopicTree<Session>()
  /** Who holds each `$exclusive/` filter. */
  readonly exclusive = new ExclusiveLocks()
  readonly #config: CulexConfig
  readonly #log: Log
  readonly #hooks: Hooks
  readonly #metrics: Metrics
  readonly #sessions: SessionStore
  readonly #clients: ReadonlyMap<string, RoutedClient>
  readonly #shared: () => (SharedListener & RouteListener) | null
  readonly #subscriptionsChanged: (session: Session) => void
  #routeStamp = 0

  constructor (opts: RouterOptions) {
    this.#config = opts.config
    this.#log = opts.log
    this.#hooks = opts.hooks
    this.#metrics = opts.metrics
    this.#sessions = opts.sessions
    this.#clients = opts.clients
    this.#shared = opts.shared
    this.#subscriptionsChanged = opts.subscriptionsChanged
  }

  // ---- subscriptions ----

  /** Adds or replaces a subscription; returns whether it existed before (for Retain Handling 1). */
  subscribe (session: Session, sub: Subscription<Session>): boolean {
    const before = session.subscriptions.get(sub.filter)
    const existed = before !== undefined
    session.subscriptions.set(sub.filter, sub)
    // A restored session takes its exclusive filters again; a plain subscription replacing one lets it go.
    if (sub.exclusive) this.exclusive.acquire(sub.filter, session.clientId)
    else if (before?.exclusive) this.exclusive.release(sub.filter, session.clientId)
    const shared = parseShared(sub.filter)
    if (shared) {
      this.tree.add(sub, shared.filter, shared.group)
      this.#shared()?.sharedChanged(shared.group, shared.filter)
    } else if (this.tree.add(sub, sub.filter)) {
      this.#shared()?.filterAdded(sub.filter)
    }
    if (session.journal || session.mirror) this.#subscriptionsChanged(session)
    return existed
  }

  unsubscribe (session: Session, filter: string): boolean {
    if (!session.subscriptions.delete(filter)) return false
    this.untrack(session, filter)
    if (session.journal || session.mirror) this.#subscriptionsChanged(session)
    return true
  }

  /** Takes one of the session's filters out of the tree (the session's own map is the caller's). */
  untrack (session: Session, filter: string): void {
    if (this.exclusive.size > 0) this.exclusive.release(filter, session.clientId)
    const shared = parseShared(filter)
    if (shared) {
      this.tree.remove(session, shared.filter, shared.group)
      this.#shared()?.sharedChanged(shared.group, shared.filter)
    } else if (this.tree.remove(session, filter)) {
      this.#shared()?.filterRemoved(filter)
    }
  }

  /** The session's connection came or went: its shared groups' online members changed (cluster). */
  sharedPresence (session: Session): void {
    const listener = this.#shared()
    if (!listener) return
    for (const filter of session.subscriptions.keys()) {
      if (!filter.startsWith(SHARE_PREFIX)) continue
      const shared = parseShared(filter)
      if (shared) listener.sharedChanged(shared.group, shared.filter)
    }
  }

  // ---- delivery ----

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
    const guard = this.#hooks.readGuard
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
    const conn = this.#clients.get(sub.subscriber.clientId)
    const client = conn?.session === sub.subscriber ? conn.client : null
    if (!client || this.#hooks.readGuard!.mayRead(client, message.topic, sub.qos, now)) return true
    this.#metrics.messagesDropped++
    return false
  }

  /** Overlapping subscriptions of one client get one copy, at the highest QoS, with all their identifiers. */
  #deliverMany (subs: Subscription<Session>[], message: Message, checkedAt: number): number {
    const stamp = ++this.#routeStamp
    let overlap = false
    for (let i = 0; i < subs.length; i++) {
      const session = subs[i]!.subscriber
      if (session.routeStamp === stamp) { overlap = true; break }
      session.routeStamp = stamp
    }
    let count = 0
    if (!overlap) {
      for (let i = 0; i < subs.length; i++) count += this.#deliver(subs[i]!, message, undefined, checkedAt)
      return count
    }
    const bySession = new Map<Session, { best: Subscription<Session>, ids: number[] }>()
    for (const sub of subs) {
      if ((sub.nl || this.#config.mqtt.ignore_loop_deliver) && message.origin === sub.subscriber.clientId) continue
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
    if ((sub.nl || this.#config.mqtt.ignore_loop_deliver) && message.origin === session.clientId) return 0
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
    this.#metrics.messagesDropped++
    this.#metrics.deliveryErrors++
    session.dropped++
    this.#log.error({ err, client: session.clientId, topic: d.message.topic }, 'delivery to a subscriber failed; the other subscribers are served')
    const conn = this.#clients.get(session.clientId)
    if (conn === undefined || conn.session !== session) return
    try {
      conn.disconnect(RC.UNSPECIFIED_ERROR, 'internal error delivering a message')
    } catch (again) {
      this.#log.error({ err: again, client: session.clientId }, 'disconnecting a client after a failed delivery failed')
    }
  }

  #delivery (sub: Subscription<Session>, message: Message, subIds: number[] | undefined, group: SharedGroup<Session> | undefined): Delivery {
    const qos = this.#config.mqtt.upgrade_qos ? sub.qos : (message.qos < sub.qos ? message.qos : sub.qos)
    return { message, qos, retain: sub.rap && message.retain, subIds, group, packetId: 0, state: 'publish', sentAt: 0, key: undefined }
  }

  #deliverShared (group: SharedGroup<Session>, message: Message, exclude: Session | undefined, checkedAt: number): number {
    const mqtt = this.#config.mqtt
    const member = pickMember(group, message, mqtt.shared_subscription_strategy, exclude, mqtt.shared_subscription_initial_sticky_pick)
    if (!member) return 0
    if (checkedAt !== 0 && !this.#mayRead(member, message, checkedAt)) return 0
    return this.#handTo(member.subscriber, this.#delivery(member, message, member.id ? [member.id] : undefined, group))
  }

  /** A member left: what it held from a shared group goes to another online member [EMQX redispatch]. */
  redispatchShared (session: Session): void {
    const held = session.takeShared()
    for (const d of held) {
      const group = d.group!
      const live = this.tree.group(group.filter, group.name) ?? group
      const member = pickMember(live, d.message, this.#config.mqtt.shared_subscription_strategy, session, this.#config.mqtt.shared_subscription_initial_sticky_pick)
      if (member && member.subscriber.link) {
        this.#handTo(member.subscriber, this.#delivery(member, d.message, member.id ? [member.id] : undefined, live))
      } else if (session.link === null && this.#sessions.get(session.clientId) === session && session.expiryInterval > 0) {
        // No other member online: keep it where it was.
        session.deliver({ ...d, packetId: 0, state: 'publish' })
      } else {
        session.dropped++
        this.#metrics.messagesDropped++
      }
    }
  }
}
