// A node of a cluster: of nodes sharing a Redis (cluster.backend = redis), or of the workers on one host
// (node.workers, whose primary process is their Redis: src/cluster/host/). Starts before the listeners
// (the bus reached, node name taken, retained messages and bans loaded, heartbeats), moves sessions
// between nodes on CONNECT, and carries kicks and bans to the node or nodes they concern. Nodes tell
// each other their plain filters (src/cluster/routes.ts) so that a message goes only to the nodes with
// a subscriber for it: all of them when two nodes meet (a hello each way), then the changes, and a
// SUBACK waits until every node it met has acknowledged the new ones.
import type { ClusterConfig, CulexConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { Ban, BanKind } from '../mqtt/banned.js'
import type { ClusterLink, Core } from '../mqtt/core.js'
import type { Message } from '../mqtt/message.js'
import { nodeStats } from '../mqtt/stats.js'
import { parseShared } from '../mqtt/topic.js'
import type { BundleRef } from '../certs/store.js'
import type { Session } from '../mqtt/session.js'
import { expiryLeft, type SessionRecord, type SessionTransfer } from '../mqtt/store/session-record.js'
import { BanMirror } from './bans.js'
import { Control, type ControlNotice, type ControlReply, type ControlRequest } from './control.js'
import { ClientDirectory } from './directory.js'
import { ManagementSync, type AuthnChange, type Managed } from './management.js'
import { NodeRegistry, type NodeStatus } from './nodes.js'
import type { PeerBus } from './peer-bus.js'
import { RedisBus } from './redis-bus.js'
import { CONNECT_TIMEOUT_MS, redisOptions } from './redis-options.js'
import type { ClusterStore } from './store.js'
import { RetainedMirror } from './retained.js'
import { RouteTable } from './routes.js'
import { SessionStoreMirror } from './sessions.js'
import { SharedView, type ShareCounts } from './shared.js'

/** How long a CONNECT waits for the node holding its session before starting a fresh one. */
export const TAKEOVER_TIMEOUT_MS = 3000

/** How long one node holds the right to adopt a stopped node's sessions (released when done). */
const ADOPT_LOCK_MS = 30_000

/** How long a SUBACK waits for the other nodes to acknowledge the new routes (a node that stopped is not waited for once seen stopped). */
export const ROUTE_SYNC_TIMEOUT_MS = 3000

/**
 * How long the routes of a node seen stopped (no heartbeat) are kept, messages still going to it: a node
 * that was only paused comes back without losing any. A node that stops cleanly says so and loses them at once.
 */
const ROUTE_PURGE_MS = 30_000

/** The bus of a cluster.backend = redis node, not connected yet. */
export function createRedisBus (config: CulexConfig, log: Log): RedisBus {
  const redis = config.cluster.redis
  return new RedisBus({ redis: redisOptions(redis), servers: redis.servers, prefix: redis.key_prefix, node: config.node.name, log })
}

/** The parts of the MQTT core a cluster back-end reads or acts on; it sets `cluster` to itself while it runs. */
type ClusterCore = Pick<Core, 'config' | 'retainer' | 'banned' | 'sessions' | 'registry' | 'tree' | 'closing' | 'clients' | 'metrics' | 'retained' | 'delayed' | 'cluster'>

export class Cluster implements ClusterLink {
  readonly node: string
  readonly bus: PeerBus
  readonly nodes: NodeRegistry
  readonly #core: ClusterCore
  readonly #log: Log
  readonly #clients: ClientDirectory
  readonly #retained: RetainedMirror
  readonly #bans: BanMirror
  readonly #control: Control
  readonly #prefix: string
  readonly #store: ClusterStore
  readonly #sessions: SessionStoreMirror
  readonly #shared: SharedView
  #management: ManagementSync | null = null
  readonly #routes = new RouteTable()
  /** The nodes that have this node's routes (a hello exchanged): SUBACKs wait for their acknowledgements. */
  readonly #peers = new Set<string>()
  /** Nodes a hello is on its way to. */
  readonly #greeting = new Set<string>()
  /**
   * Nodes seen stopped (no heartbeat; not those that said they leave), and since when: their routes are
   * kept for now, and a SUBACK waits for them too, since a late heartbeat does not prove a node gone.
   */
  readonly #stoppedAt = new Map<string, number>()
  /** Nodes that let a SUBACK's wait run out while not peers: not waited for again until a hello is answered. */
  readonly #silent = new Set<string>()
  #routesScheduled = false
  /** Until the other nodes acknowledged the routes (and shared groups) last sent: what a SUBACK waits for. */
  #syncing: Promise<void> | null = null
  /** `$share` groups whose members on this node may have changed: key → [group, filter]. */
  #dirty = new Map<string, [string, string]>()
  /** What this node last told the others about its members of each group. */
  readonly #announced = new Map<string, ShareCounts>()
  readonly #watchInterval: number
  #watch: NodeJS.Timeout | null = null
  /** Nodes seen running at the last look. */
  #running = new Set<string>()

  constructor (core: ClusterCore, bus: PeerBus, config: ClusterConfig, log: Log) {
    const prefix = config.redis.key_prefix
    const store = bus.store
    this.node = core.config.node.name
    this.bus = bus
    this.#core = core
    this.#log = log
    this.nodes = new NodeRegistry(store, prefix, this.node, { interval: config.heartbeat_interval, timeout: config.node_timeout }, log, () => nodeStats(core))
    this.#clients = new ClientDirectory(store, prefix, this.node, log)
    this.#retained = new RetainedMirror(bus, store, prefix, this.node, log)
    this.#bans = new BanMirror(store, prefix, log)
    this.#prefix = prefix
    this.#store = store
    this.#sessions = new SessionStoreMirror(store, prefix, core.config.mqtt.max_mqueue_len, log)
    this.#shared = new SharedView(store, prefix, this.node, core.config.mqtt.shared_subscription_strategy, log, core.config.mqtt.shared_subscription_initial_sticky_pick)
    this.#watchInterval = config.heartbeat_interval
    bus.sharePlanner((message, reachable) => {
      if (this.#dirty.size > 0) this.#flushShared()
      return this.#shared.plan(message, reachable)
    })
    bus.router((topic) => this.#routes.nodesFor(topic))
    bus.onBack(() => { for (const node of new Set([...this.#running, ...this.#peers])) void this.#hello(node) })
    this.#control = new Control(bus, prefix, this.node, log, {
      request: (request, from) => this.#answer(request, from),
      notice: (notice, from) => this.#hear(notice, from),
    })
  }

  /** Joins: the bus reached, name taken, retained messages and bans loaded; call before the listeners open. */
  async start (): Promise<void> {
    await this.bus.connect(CONNECT_TIMEOUT_MS)
    let retained: Message[]
    let bans: Ban[]
    try {
      await this.nodes.claim()
      retained = await this.#retained.load()
      bans = await this.#bans.load()
      await this.#shared.load()
      await this.#management?.load()
      this.#running = new Set((await this.nodes.list()).filter((n) => n.running).map((n) => n.node))
    } catch (err) {
      if (err instanceof CulexError && err.code === 'CULEX_ERR_CLUSTER') throw err
      throw new CulexError('CULEX_ERR_CLUSTER', `${this.bus.where} failed during start-up: ${(err as Error).message}`, { cause: err })
    }
    this.#core.retainer.load(retained)
    for (const ban of bans) this.#core.banned.add(ban)
    await this.#reconcileRestored()
    // Sessions restored from disk subscribed before the cluster ran: their filters go in the hello.
    for (const session of this.#core.sessions.values()) {
      for (const filter of session.subscriptions.keys()) if (!parseShared(filter)) this.#routes.localAdded(filter)
    }
    this.#routes.takeChanges()
    this.nodes.start()
    this.#core.cluster = this
    await Promise.all([...this.#running].map((node) => this.#hello(node)))
    // Sessions restored from disk before the cluster ran: their groups are announced now.
    for (const session of this.#core.sessions.values()) {
      for (const filter of session.subscriptions.keys()) {
        const shared = parseShared(filter)
        if (shared) this.sharedChanged(shared.group, shared.filter)
      }
    }
    this.#watch = setInterval(() => {
      this.#look().catch((err: Error) => this.#log.debug({ err: err.message }, 'cluster: looking for stopped nodes failed; trying again'))
    }, this.#watchInterval).unref()
    this.bus.beforeClose(() => this.#leave())
    this.#log.notice({ node: this.node, where: this.bus.where, retained: retained.length, bans: bans.length }, 'cluster: joined')
  }

  /** After the core closed (and with it the bus): nothing left waiting. */
  async stop (): Promise<void> {
    if (this.#watch) clearInterval(this.#watch)
    this.#watch = null
    this.nodes.stop()
    this.#control.close()
    if (this.#core.cluster === this) this.#core.cluster = null
  }

  // ---- what the core asks ----

  /**
   * The client is recorded as held here (the directory's entry taken in one step with reading who held
   * it), and its session brought from that node if another did.
   */
  async takeover (clientId: string, cleanStart: boolean): Promise<SessionTransfer | undefined> {
    const found = await this.#owner(clientId, true)
    if (!found) return undefined
    if (!found.running) return this.#inherit(clientId, found.node, cleanStart)
    const owner = found.node
    const reply = await this.#control.request(owner, { t: 'takeover', clientId, cleanStart }, TAKEOVER_TIMEOUT_MS)
    if (!reply) {
      this.#log.warning({ clientId, node: owner }, `cluster: the node holding the session did not answer within ${TAKEOVER_TIMEOUT_MS} ms; starting a fresh session`)
      return undefined
    }
    if (!reply.session) return undefined
    this.#log.info({ clientId, node: owner, messages: reply.session.messages.length }, 'cluster: session taken over from another node')
    return cleanStart ? undefined : reply.session
  }

  connectAbandoned (clientId: string): void {
    if (!this.#core.sessions.get(clientId)) void this.#clients.release(clientId)
  }

  sessionEnded (clientId: string, persistent: boolean): void {
    void this.#clients.release(clientId)
    if (persistent) void this.#sessions.forget(clientId)
  }

  sessionSaved (session: Session, disconnectedAt?: number): void {
    if (session.expiryInterval === 0) {
      if (session.mirror) void this.#sessions.forget(session.clientId)
      session.mirror = null
      return
    }
    session.mirror = this.#sessions
    void this.#sessions.save(session, disconnectedAt)
  }

  retained (message: Message): void {
    this.#retained.store(message)
  }

  retainedDeleted (topic: string): void {
    this.#control.broadcast({ t: 'retained_delete', topic })
  }

  sharedChanged (group: string, filter: string): void {
    if (this.#dirty.size === 0) setImmediate(() => this.#flushShared())
    this.#dirty.set(`${group}/${filter}`, [group, filter])
  }

  filterAdded (filter: string): void {
    if (this.#routes.localAdded(filter)) this.#scheduleRoutes()
  }

  filterRemoved (filter: string): void {
    if (this.#routes.localRemoved(filter)) this.#scheduleRoutes()
  }

  listened (level: string): boolean {
    return this.#routes.hasTopLevel(level) || this.#shared.hasTopLevel(level)
  }

  routesSynced (): Promise<void> | null {
    const shared = this.#flushShared()
    if (shared || this.#routes.changed) this.#flushRoutes(true)
    return this.#syncing
  }

  // ---- what the management API asks ----

  /** What the management API changes on this node, to carry such changes to and from the others; call before start(). */
  manage (managed: Managed): void {
    this.#management = new ManagementSync(managed, this.#store, this.#prefix, this.#log, (change) => this.#control.broadcast({ t: 'manage', change }))
  }

  authnChanged (change: AuthnChange): void {
    this.#management?.authnChanged(change)
  }

  userChanged (authenticator: string, userId: string): void {
    this.#management?.userChanged(authenticator, userId)
  }

  async bundleChanged (ref: BundleRef): Promise<void> {
    await this.#management?.bundleChanged(ref)
  }

  authzSourcesChanged (): void {
    this.#management?.authzSourcesChanged()
  }

  authzSettingsChanged (): void {
    this.#management?.authzSettingsChanged()
  }

  authzCacheCleared (): void {
    this.#management?.authzCacheCleared()
  }

  authzRulesChanged (key: string): void {
    this.#management?.authzRulesChanged(key)
  }

  authzRulesPurged (): void {
    this.#management?.authzRulesPurged()
  }

  caChanged (serial: string): void {
    this.#management?.caChanged(serial)
  }

  deviceChanged (serial: string, caSerial: string): void {
    this.#management?.deviceChanged(serial, caSerial)
  }

  /** Kicks the client on the node holding it; false when no running node does. */
  async kick (clientId: string): Promise<boolean> {
    const found = await this.#owner(clientId, false)
    if (!found?.running) return false
    const owner = found.node
    const reply = await this.#control.request(owner, { t: 'kick', clientId }, TAKEOVER_TIMEOUT_MS)
    return reply?.found === true
  }

  banAdded (ban: Ban): void {
    this.#bans.add(ban)
    this.#control.broadcast({ t: 'ban', ban })
  }

  banRemoved (as: BanKind, who: string): void {
    this.#bans.remove(as, who)
    this.#control.broadcast({ t: 'unban', as, who })
  }

  bansCleared (): void {
    this.#bans.clear()
    this.#control.broadcast({ t: 'unban_all' })
  }

  listNodes (): Promise<NodeStatus[]> {
    return this.nodes.list()
  }

  /** The counts (/api/v5/stats) of the other running nodes, as of their last heartbeat. */
  async otherStats (): Promise<{ node: string, figures: Record<string, number> }[]> {
    return (await this.nodes.figures()).filter((n) => n.node !== this.node)
  }

  // ---- what other nodes ask ----

  #answer (request: ControlRequest, from: string): ControlReply {
    if (request.t === 'kick') return { t: 'reply', found: this.#core.registry.kick(request.clientId) }
    if (request.t === 'hello') {
      this.#met(from, request.routes)
      return { t: 'reply', found: true, routes: this.#routes.localFilters() }
    }
    const session = this.#core.registry.handOver(request.clientId, request.cleanStart, from)
    return { t: 'reply', found: session !== undefined, session }
  }

  #hear (notice: ControlNotice, from: string): void {
    const banned = this.#core.banned
    switch (notice.t) {
      case 'ban': {
        banned.add(notice.ban)
        const kicked = this.#core.registry.kickBanned(notice.ban)
        this.#log.notice({ as: notice.ban.as, who: notice.ban.who, node: from, kicked }, 'cluster: ban added on another node')
        break
      }
      case 'unban':
        banned.remove(notice.as, notice.who)
        this.#log.notice({ as: notice.as, who: notice.who, node: from }, 'cluster: ban removed on another node')
        break
      case 'unban_all':
        banned.clear()
        this.#log.notice({ node: from }, 'cluster: every ban removed on another node')
        break
      case 'shared':
        this.#shared.set(notice.key, from, notice)
        break
      case 'routes':
        this.#routes.apply(from, notice.add, notice.del)
        break
      case 'retained_delete':
        this.#core.retainer.delete(notice.topic, false)
        break
      case 'leave':
        this.#running.delete(from)
        this.#routes.drop(from)
        this.#nodeStopped(from, true)
        break
      case 'manage':
        this.#management?.apply(notice.change, from).catch((err: Error) =>
          this.#log.error({ err, node: from, change: notice.change.t }, `cluster: a management change made on another node could not be applied here: ${err.message}`))
        break
    }
  }

  // ---- routes ----

  #scheduleRoutes (): void {
    if (this.#routesScheduled) return
    this.#routesScheduled = true
    setImmediate(() => this.#flushRoutes(false))
  }

  /**
   * Tells the others what changed in this node's filters. New filters (or `barrier`: shared groups told
   * just before) are acknowledged: #syncing waits for that. A filter that went needs no wait.
   */
  #flushRoutes (barrier: boolean): void {
    this.#routesScheduled = false
    const { add, del } = this.#routes.takeChanges()
    if (add.length === 0 && !barrier) {
      if (del.length > 0) this.#control.broadcast({ t: 'routes', add, del })
      return
    }
    const acked = this.#control.broadcastAcked({ t: 'routes', add, del }, this.#syncTargets(), ROUTE_SYNC_TIMEOUT_MS).then((missing) => {
      for (const node of missing) if (!this.#peers.has(node)) this.#silent.add(node)
      if (missing.length > 0) {
        this.#log.warning({ nodes: missing, filters: add.slice(0, 10) },
          `cluster: nodes did not acknowledge this node's new subscriptions within ${ROUTE_SYNC_TIMEOUT_MS} ms; SUBACK sent anyway`)
      }
    })
    const syncing: Promise<void> = acked.finally(() => { if (this.#syncing === syncing) this.#syncing = null })
    this.#syncing = syncing
  }

  /**
   * The nodes a SUBACK waits for: the peers, and the nodes that may be running without being peers yet
   * (a hello on its way or timed out, a heartbeat late on a busy host), but not those that went silent.
   */
  #syncTargets (): Set<string> {
    const nodes = new Set(this.#peers)
    for (const node of this.#running) nodes.add(node)
    for (const node of this.#stoppedAt.keys()) nodes.add(node)
    nodes.delete(this.node)
    // Never a peer too: #met takes a node out of #silent, and only a non-peer goes in.
    for (const node of this.#silent) nodes.delete(node)
    return nodes
  }

  /** Exchanges every filter with a node (it started, or this one did, or the bus was away); the node is then a peer. */
  async #hello (node: string): Promise<void> {
    if (node === this.node || this.#greeting.has(node)) return
    this.#greeting.add(node)
    try {
      const reply = await this.#control.request(node, { t: 'hello', routes: this.#routes.localFilters() }, TAKEOVER_TIMEOUT_MS)
      if (reply?.routes) this.#met(node, reply.routes)
      else this.#log.debug({ node }, 'cluster: a node did not answer the hello; trying again at the next look')
    } finally {
      this.#greeting.delete(node)
    }
  }

  #met (node: string, routes: string[]): void {
    if (!Array.isArray(routes)) return
    this.#routes.set(node, routes)
    this.#peers.add(node)
    this.#silent.delete(node)
  }

  /** Recounts this node's members of the groups that changed; tells the others (and the store) what differs; true when it told them something. */
  #flushShared (): boolean {
    const dirty = this.#dirty
    if (dirty.size === 0) return false
    this.#dirty = new Map()
    let told = false
    for (const [key, [name, filter]] of dirty) {
      const group = this.#core.tree.group(filter, name)
      let online = 0
      if (group) for (const m of group.members) if (m.subscriber.link !== null) online++
      const counts = { members: group?.members.length ?? 0, online }
      const last = this.#announced.get(key)
      if (last ? last.members === counts.members && last.online === counts.online : counts.members === 0) continue
      if (counts.members === 0) this.#announced.delete(key)
      else this.#announced.set(key, counts)
      this.#shared.set(key, this.node, counts)
      this.#control.broadcast({ t: 'shared', key, ...counts })
      this.#shared.record(key, counts)
      told = true
    }
    return told
  }

  /** Every heartbeat interval: nodes that stopped since the last look lose their share of the groups. */
  async #look (): Promise<void> {
    if (!this.bus.ready) return
    const nodes = await this.nodes.list()
    const running = new Set<string>()
    for (const n of nodes) {
      if (n.running) {
        running.add(n.node)
        this.#stoppedAt.delete(n.node)
        if (!this.#peers.has(n.node)) void this.#hello(n.node)
        continue
      }
      const since = this.#stoppedAt.get(n.node)
      if (since !== undefined && Date.now() - since > ROUTE_PURGE_MS) {
        this.#stoppedAt.delete(n.node)
        this.#silent.delete(n.node)
        this.#routes.drop(n.node)
      }
      if (n.node === this.node || !this.#running.has(n.node)) continue
      this.#log.notice({ node: n.node }, 'cluster: a node stopped')
      this.#nodeStopped(n.node, false)
    }
    this.#running = running
  }

  /** `left`: it said so; otherwise it was seen stopped, and may only be late. */
  #nodeStopped (node: string, left: boolean): void {
    this.#peers.delete(node)
    this.#control.forget(node)
    if (left) {
      this.#stoppedAt.delete(node)
      this.#silent.delete(node)
    } else this.#stoppedAt.set(node, Date.now())
    if (this.#core.closing) return
    this.#shared.unrecord(this.#shared.nodeDown(node), node)
    this.#adopt(node).catch((err: Error) => {
      // This node stopping too (its store closed under the adoption, as when every worker stops at once)
      // is no failure: the adoption lock expires, and a node still running, or this one's next run, continues.
      if (this.#core.closing || !this.bus.ready) this.#log.debug({ node, err: err.message }, 'cluster: adopting the sessions of a stopped node ended with this node\'s stop')
      else this.#log.warning({ node, err: err.message }, 'cluster: adopting the sessions of a stopped node failed')
    })
  }

  /**
   * One running node (the first to take <prefix>:adopt:<node>) continues the persistent sessions a
   * stopped node left in the store: their subscriptions collect messages here until their clients return.
   */
  async #adopt (node: string): Promise<void> {
    const lock = `${this.#prefix}:adopt:${node}`
    if (!(await this.#store.acquire(lock, this.node, ADOPT_LOCK_MS))) return
    let sessions = 0
    let messages = 0
    try {
      for (const clientId of await this.#clients.heldBy(node)) {
        if (this.#core.closing) break
        if (!(await this.#clients.inherit(clientId, node))) continue
        const transfer = await this.#sessions.load(clientId)
        if (transfer && this.#core.registry.adopt(transfer)) {
          sessions++
          messages += transfer.messages.length
          continue
        }
        // Not persistent, or expired: nothing to continue.
        if (transfer) await this.#sessions.forget(clientId)
        await this.#clients.releaseFor(clientId, this.node)
      }
    } finally {
      await this.#store.releaseIf(lock, this.node).catch((err: Error) => this.#log.debug({ node, err: err.message }, 'cluster: the adoption lock was not released; it expires by itself'))
    }
    if (sessions > 0) this.#log.notice({ node, sessions, messages }, 'cluster: persistent sessions of a stopped node continued on this node')
  }

  /**
   * A client whose session a stopped node (or this node in a previous run) left in the store: continued
   * here. The directory's entry is already this node's (taken from `from`): a node adopting the stopped
   * node's sessions skips this one, or, had it taken the entry first, it is the node the takeover asked.
   */
  async #inherit (clientId: string, from: string, cleanStart: boolean): Promise<SessionTransfer | undefined> {
    let transfer: SessionTransfer | undefined
    try {
      transfer = await this.#sessions.load(clientId)
    } catch (err) {
      this.#log.debug({ clientId, node: from, err: (err as Error).message }, 'cluster: the session left in the store could not be read; starting a fresh session')
      return undefined
    }
    if (!transfer) {
      if (from !== this.node) this.#log.info({ clientId, node: from }, 'cluster: the node that held the session is not running; starting a fresh session')
      return undefined
    }
    if (cleanStart || expired(transfer.record)) { void this.#sessions.forget(clientId); return undefined }
    this.#log.info({ clientId, node: from, messages: transfer.messages.length }, 'cluster: session left by a stopped node continued here')
    return transfer
  }

  /** Sessions restored from disk: dropped when another node continued them meanwhile, else kept in the store. */
  async #reconcileRestored (): Promise<void> {
    const sessions = [...this.#core.sessions.values()]
    if (sessions.length === 0) return
    const owners = await this.#clients.owners(sessions.map((s) => s.clientId))
    const now = Date.now()
    let dropped = 0
    sessions.forEach((session, i) => {
      const owner = owners[i]
      if (owner && owner !== this.node) { this.#core.registry.handOver(session.clientId, false, owner); dropped++; return }
      this.#clients.claim(session.clientId)
      this.sessionSaved(session, now)
    })
    if (dropped > 0) this.#log.notice({ dropped }, 'cluster: restored sessions that other nodes continued meanwhile dropped')
  }

  /**
   * The node, other than this one, recorded as holding the client's session, and whether it runs; this
   * node too when the record names it but it has no such session (a previous run). A slow store counts as
   * none. `take`: the record names this node from now on.
   */
  #owner (clientId: string, take: boolean): Promise<{ node: string, running: boolean } | undefined> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), TAKEOVER_TIMEOUT_MS) })
    return Promise.race([this.#lookUp(clientId, take), late]).finally(() => clearTimeout(timer))
  }

  async #lookUp (clientId: string, take: boolean): Promise<{ node: string, running: boolean } | undefined> {
    try {
      const owner = await (take ? this.#clients.take(clientId) : this.#clients.owner(clientId))
      if (!owner) return undefined
      if (owner === this.node) return this.#core.sessions.get(clientId) ? undefined : { node: owner, running: false }
      return { node: owner, running: await this.nodes.alive(owner) }
    } catch (err) {
      // The store away: this node decides alone (the bus has warned).
      this.#log.debug({ clientId, err: (err as Error).message }, 'cluster: the session owner could not be read; deciding alone')
      return undefined
    }
  }

  /**
   * Last writes before the connections close: persistent sessions as they are now (for a running node
   * to continue), the other clients released, shared groups left; then the others hear of it and the
   * name is given back.
   */
  async #leave (): Promise<void> {
    this.nodes.stop()
    const writes: Promise<unknown>[] = []
    const now = Date.now()
    for (const key of this.#announced.keys()) writes.push(this.#store.write(['hdel', this.#shared.hashKey(key), this.node]))
    for (const session of this.#core.sessions.values()) {
      if (!session.mirror) writes.push(this.#clients.release(session.clientId))
      else if (session.link) writes.push(this.#sessions.save(session, now))
    }
    await Promise.all(writes)
    this.#control.broadcast({ t: 'leave' })
    await this.nodes.release()
  }
}

function expired (record: SessionRecord, now = Date.now()): boolean {
  return expiryLeft(record, now) <= 0
}
