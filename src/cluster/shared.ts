// Shared subscriptions across nodes: one delivery per `$share` group in the whole cluster. Every node
// keeps a view of which nodes have members of which group (members and online members), from control
// notices and, for a node that starts later, the hashes <prefix>:shared:<group>/<filter> (node →
// "members,online"). The node that accepts a message picks, per matching group, the node that delivers
// it: the configured strategy applied over the online members of the whole cluster (a node with three
// online members gets three turns in a round), so a node takes a share in proportion to its members;
// with nobody online, this node if it has (offline) members, else the next node with members. The
// choice travels with the message; other nodes deliver to a group only when told to.
import type { Log } from '../log.js'
import type { Message } from '../mqtt/message.js'
import { hash, initialTurn, type InitialStickyPick, type ShareStrategy } from '../mqtt/shared-pick.js'
import { TopicTree, type SharedGroup, type Subscription } from '../mqtt/topic-tree.js'
import type { ClusterStore } from './store.js'

/** Which nodes deliver to which groups (by group key `group/filter`); absent when no group matches. */
export type SharePlan = Map<string, string[]>


/** One node's members of one group, as the view holds it. */
interface NodeShare { readonly clientId: string, members: number, online: number }

export interface ShareCounts { members: number, online: number }

export class SharedView {
  readonly #store: ClusterStore
  readonly #prefix: string
  readonly #node: string
  readonly #strategy: ShareStrategy
  readonly #initial: InitialStickyPick
  readonly #log: Log
  readonly #tree = new TopicTree<NodeShare>()
  /** group key → node → its share. */
  readonly #groups = new Map<string, Map<string, NodeShare>>()
  readonly #sticky = new Map<string, string>()
  /** Nodes not running (dead or stopped): left out of every choice until they announce again. */
  readonly #down = new Set<string>()

  constructor (store: ClusterStore, prefix: string, node: string, strategy: ShareStrategy, log: Log, initial: InitialStickyPick = 'random') {
    this.#store = store
    this.#prefix = prefix
    this.#node = node
    this.#strategy = strategy
    this.#initial = initial
    this.#log = log
  }

  /** Whether a group anywhere in the cluster has a filter starting with this level. */
  hasTopLevel (level: string): boolean {
    return this.#tree.hasTopLevel(level)
  }

  hashKey (key: string): string { return `${this.#prefix}:shared:${key}` }

  /** The cluster's groups as the store has them; this node's own old entries (a previous run) are removed. */
  async load (): Promise<void> {
    const start = this.hashKey('').length
    for (const hash of await this.#store.keys(this.hashKey(''))) {
      const all = await this.#store.hgetall(hash)
      const key = hash.slice(start)
      for (const [node, value] of Object.entries(all)) {
        if (node === this.#node) { await this.#store.write(['hdel', hash, node]); continue }
        const [members, online] = value.split(',').map(Number)
        this.set(key, node, { members: members ?? 0, online: online ?? 0 })
      }
    }
  }

  /** Records this node's counts in the store, for nodes that start later (not waited for). */
  record (key: string, counts: ShareCounts): void {
    const hash = this.hashKey(key)
    const write = counts.members === 0 ? this.#store.write(['hdel', hash, this.#node]) : this.#store.write(['hset', hash, this.#node, `${counts.members},${counts.online}`])
    write.catch((err: Error) => this.#log.debug({ group: key, err: err.message }, 'cluster: shared group members not recorded in the cluster store'))
  }

  /** Forgets a stopped node's entries in the store (not waited for). */
  unrecord (keys: Iterable<string>, node: string): void {
    for (const key of keys) {
      this.#store.write(['hdel', this.hashKey(key), node])
        .catch((err: Error) => this.#log.debug({ group: key, node, err: err.message }, 'cluster: a stopped node\'s shared group entry not removed'))
    }
  }

  /** Records a node's members of a group (0 members: the node left the group). */
  set (key: string, node: string, counts: ShareCounts): void {
    const slash = key.indexOf('/')
    if (slash <= 0) return
    const name = key.slice(0, slash)
    const filter = key.slice(slash + 1)
    let nodes = this.#groups.get(key)
    const entry = nodes?.get(node)
    if (counts.members <= 0) {
      if (!entry) return
      nodes!.delete(node)
      if (nodes!.size === 0) this.#groups.delete(key)
      this.#tree.remove(entry, filter, name)
      return
    }
    if (node !== this.#node) this.#down.delete(node)
    if (entry) { entry.members = counts.members; entry.online = counts.online; return }
    if (!nodes) { nodes = new Map(); this.#groups.set(key, nodes) }
    const share: NodeShare = { clientId: node, members: counts.members, online: counts.online }
    nodes.set(node, share)
    const sub: Subscription<NodeShare> = { filter: `$share/${key}`, subscriber: share, qos: 0, nl: false, rap: false, rh: 0, id: 0 }
    this.#tree.add(sub, filter, name)
  }

  /** A node stopped: its members count for nothing (and are forgotten) until it announces again. */
  nodeDown (node: string): string[] {
    this.#down.add(node)
    const keys: string[] = []
    for (const [key, nodes] of [...this.#groups]) {
      if (nodes.has(node)) { keys.push(key); this.set(key, node, { members: 0, online: 0 }) }
    }
    return keys
  }

  /** This node's groups, as last recorded. */
  ownKeys (): string[] {
    return [...this.#groups].filter(([, nodes]) => nodes.has(this.#node)).map(([key]) => key)
  }

  /** Per matching group, the node that delivers; undefined when no group in the cluster matches. */
  plan (message: Message, remoteReachable: boolean): SharePlan | undefined {
    const groups = this.#tree.match(message.topic).groups
    if (groups.length === 0) return undefined
    const plan: SharePlan = new Map()
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i]!
      const node = this.#pick(group, message, remoteReachable)
      if (node === undefined) continue
      const keys = plan.get(node)
      if (keys) keys.push(group.key)
      else plan.set(node, [group.key])
    }
    return plan
  }

  #pick (group: SharedGroup<NodeShare>, message: Message, remoteReachable: boolean): string | undefined {
    const usable = (s: NodeShare) => s.clientId === this.#node || (remoteReachable && !this.#down.has(s.clientId))
    const shares = group.members.map((m) => m.subscriber).filter(usable)
    let total = 0
    for (const s of shares) total += s.online
    if (total === 0) {
      // Nobody online: queue on this node's members if it has some, else on the next node's.
      if (shares.some((s) => s.clientId === this.#node)) return this.#node
      if (shares.length === 0) return undefined
      return shares[group.next++ % shares.length]!.clientId
    }
    let turn: number
    switch (this.#strategy) {
      case 'local':
        if (shares.some((s) => s.clientId === this.#node && s.online > 0)) return this.#node
        turn = Math.floor(Math.random() * total)
        break
      case 'random': turn = Math.floor(Math.random() * total); break
      case 'hash_topic': turn = hash(message.topic) % total; break
      case 'hash_clientid': turn = hash(message.origin ?? '') % total; break
      case 'sticky': {
        const last = this.#sticky.get(group.key)
        if (last !== undefined && shares.some((s) => s.clientId === last && s.online > 0)) return last
        // mqtt.shared_subscription_initial_sticky_pick; local: this node when it has a member online.
        if (this.#initial === 'local' && shares.some((s) => s.clientId === this.#node && s.online > 0)) {
          this.#sticky.set(group.key, this.#node)
          return this.#node
        }
        turn = initialTurn(this.#initial, message, total)
        break
      }
      default: turn = group.next++ % total
    }
    for (const s of shares) {
      if (turn < s.online) {
        if (this.#strategy === 'sticky') this.#sticky.set(group.key, s.clientId)
        return s.clientId
      }
      turn -= s.online
    }
    this.#log.debug({ group: group.key }, 'cluster: shared group pick fell through')
    return this.#node
  }
}
