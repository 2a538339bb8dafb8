// A node of a Redis cluster (cluster.backend = redis): starts before the listeners (Redis reached,
// node name taken, retained messages and bans loaded, heartbeats), moves sessions between nodes on
// CONNECT, and carries kicks and bans to the node or nodes they concern.
import type { ClusterConfig, CulexConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import { kickBanned, type Ban, type BanKind } from '../mqtt/banned.js'
import type { ClusterLink, Core } from '../mqtt/core.js'
import type { Message } from '../mqtt/message.js'
import type { SessionTransfer } from '../mqtt/store/session-record.js'
import { BanMirror } from './bans.js'
import { Control, type ControlNotice, type ControlReply, type ControlRequest } from './control.js'
import { ClientDirectory } from './directory.js'
import { NodeRegistry, type NodeStatus } from './nodes.js'
import { RedisBus } from './redis-bus.js'
import { CONNECT_TIMEOUT_MS, redisOptions } from './redis-options.js'
import { RetainedMirror } from './retained.js'

/** How long a CONNECT waits for the node holding its session before starting a fresh one. */
export const TAKEOVER_TIMEOUT_MS = 3000

/** The bus of a cluster.backend = redis node, not connected yet. */
export function createRedisBus (config: CulexConfig, log: Log): RedisBus {
  const redis = config.cluster.redis
  return new RedisBus({ redis: redisOptions(redis), servers: redis.servers, prefix: redis.key_prefix, node: config.node.name, log })
}

export class Cluster implements ClusterLink {
  readonly node: string
  readonly bus: RedisBus
  readonly nodes: NodeRegistry
  readonly #core: Core
  readonly #log: Log
  readonly #clients: ClientDirectory
  readonly #retained: RetainedMirror
  readonly #bans: BanMirror
  readonly #control: Control

  constructor (core: Core, bus: RedisBus, config: ClusterConfig, log: Log) {
    const prefix = config.redis.key_prefix
    this.node = core.config.node.name
    this.bus = bus
    this.#core = core
    this.#log = log
    this.nodes = new NodeRegistry(bus.pub, prefix, this.node, { interval: config.heartbeat_interval, timeout: config.node_timeout }, log)
    this.#clients = new ClientDirectory(bus.pub, prefix, this.node, log)
    this.#retained = new RetainedMirror(bus, prefix, this.node, log)
    this.#bans = new BanMirror(bus.pub, prefix, log)
    this.#control = new Control(bus, prefix, this.node, log, {
      request: (request, from) => this.#answer(request, from),
      notice: (notice, from) => this.#hear(notice, from),
    })
  }

  /** Joins: Redis reached, name taken, retained messages and bans loaded; call before the listeners open. */
  async start (): Promise<void> {
    await this.bus.connect(CONNECT_TIMEOUT_MS)
    let retained: Message[]
    let bans: Ban[]
    try {
      await this.nodes.claim()
      retained = await this.#retained.load()
      bans = await this.#bans.load()
    } catch (err) {
      if (err instanceof CulexError) throw err
      throw new CulexError('CULEX_ERR_CLUSTER', `Redis at cluster.redis.servers = ${this.bus.servers} failed during start-up: ${(err as Error).message}`, { cause: err })
    }
    this.#core.loadRetained(retained)
    for (const ban of bans) this.#core.banned.add(ban)
    this.nodes.start()
    this.#core.cluster = this
    this.bus.beforeClose(() => this.#leave())
    this.#log.notice({ node: this.node, servers: this.bus.servers, retained: retained.length, bans: bans.length }, 'cluster: joined')
  }

  /** After the core closed (and with it the bus): nothing left waiting. */
  async stop (): Promise<void> {
    this.nodes.stop()
    this.#control.close()
    if (this.#core.cluster === this) this.#core.cluster = null
  }

  // ---- what the core asks ----

  async takeover (clientId: string, cleanStart: boolean): Promise<SessionTransfer | undefined> {
    const owner = await this.#owner(clientId)
    if (!owner) return undefined
    const reply = await this.#control.request(owner, { t: 'takeover', clientId, cleanStart }, TAKEOVER_TIMEOUT_MS)
    if (!reply) {
      this.#log.warning({ clientId, node: owner }, `cluster: the node holding the session did not answer within ${TAKEOVER_TIMEOUT_MS} ms; starting a fresh session`)
      return undefined
    }
    if (!reply.session) return undefined
    this.#log.info({ clientId, node: owner, messages: reply.session.messages.length }, 'cluster: session taken over from another node')
    return cleanStart ? undefined : reply.session
  }

  sessionOpened (clientId: string): void {
    this.#clients.claim(clientId)
  }

  sessionEnded (clientId: string): void {
    void this.#clients.release(clientId)
  }

  retained (message: Message): void {
    this.#retained.store(message)
  }

  // ---- what the management API asks ----

  /** Kicks the client on the node holding it; false when no running node does. */
  async kick (clientId: string): Promise<boolean> {
    const owner = await this.#owner(clientId)
    if (!owner) return false
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

  // ---- what other nodes ask ----

  #answer (request: ControlRequest, from: string): ControlReply {
    if (request.t === 'kick') return { t: 'reply', found: this.#core.kick(request.clientId) }
    const session = this.#core.handOver(request.clientId, request.cleanStart, from)
    return { t: 'reply', found: session !== undefined, session }
  }

  #hear (notice: ControlNotice, from: string): void {
    const banned = this.#core.banned
    switch (notice.t) {
      case 'ban': {
        banned.add(notice.ban)
        const kicked = kickBanned(this.#core, notice.ban)
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
    }
  }

  /** The running node, other than this one, that holds the client's session (a slow Redis counts as none). */
  #owner (clientId: string): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), TAKEOVER_TIMEOUT_MS) })
    return Promise.race([this.#lookUp(clientId), late]).finally(() => clearTimeout(timer))
  }

  async #lookUp (clientId: string): Promise<string | undefined> {
    let owner: string | null
    try {
      owner = await this.#clients.owner(clientId)
      if (!owner || owner === this.node) return undefined
      if (await this.nodes.alive(owner)) return owner
    } catch {
      // Redis away: this node decides alone (the bus has warned).
      return undefined
    }
    this.#log.info({ clientId, node: owner }, 'cluster: the node that held the session is not running; starting a fresh session')
    return undefined
  }

  /** Last writes before the connections close: the name given back and, with nothing kept on disk, this node's sessions. */
  async #leave (): Promise<void> {
    this.nodes.stop()
    const writes: Promise<unknown>[] = []
    if (!this.#core.journal) for (const session of this.#core.sessions.values()) writes.push(this.#clients.release(session.clientId))
    writes.push(this.nodes.release())
    await Promise.all(writes)
  }
}
