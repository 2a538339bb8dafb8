// The cluster's route table (EMQX's emqx_router, routes per node): which plain topic filters (not
// `$share`, see shared.ts) this node has subscribers for, and which filters each other node has, in a
// topic-filter trie, so that a message is sent only to the nodes with a matching subscription. Each
// node tells the others its own filters as they gain a first subscriber or lose the last.
import { TopicTree, type Match, type Subscription } from '../mqtt/topic-tree.js'

/** Another node, as a subscriber in the trie: one entry per filter it has. */
interface Peer { readonly clientId: string, readonly filters: Map<string, Subscription<Peer>> }

const NONE: readonly string[] = []

export interface RouteChanges { add: string[], del: string[] }

export class RouteTable {
  /** This node's filters, with the number of its sessions subscribed to each. */
  readonly #local = new Map<string, number>()
  /** Filters whose presence here changed since takeChanges(): filter → present now. */
  #changed = new Map<string, boolean>()
  readonly #tree = new TopicTree<Peer>()
  readonly #peers = new Map<string, Peer>()
  /** The nodes a topic goes to, per trie match (a match is cached by topic until the trie changes). */
  #nodes = new WeakMap<Match<Peer>, readonly string[]>()

  /** A session here subscribed to the filter; true when it is the first. */
  localAdded (filter: string): boolean {
    const count = this.#local.get(filter) ?? 0
    this.#local.set(filter, count + 1)
    if (count > 0) return false
    this.#changed.set(filter, true)
    return true
  }

  /** A session here left the filter; true when it was the last. */
  localRemoved (filter: string): boolean {
    const count = this.#local.get(filter)
    if (count === undefined) return false
    if (count > 1) { this.#local.set(filter, count - 1); return false }
    this.#local.delete(filter)
    this.#changed.set(filter, false)
    return true
  }

  /** Whether this node's filters changed since the last takeChanges(). */
  get changed (): boolean { return this.#changed.size > 0 }

  /** What changed in this node's filters since the last call (a filter added and removed again is left out). */
  takeChanges (): RouteChanges {
    const add: string[] = []
    const del: string[] = []
    for (const [filter, present] of this.#changed) {
      if (present === this.#local.has(filter)) (present ? add : del).push(filter)
    }
    this.#changed = new Map()
    return { add, del }
  }

  /** This node's filters. */
  localFilters (): string[] {
    return [...this.#local.keys()]
  }

  /** Another node's filters, all of them (what it said when the two met). */
  set (node: string, filters: readonly string[]): void {
    this.drop(node)
    this.apply(node, filters, NONE)
  }

  /** Another node's changes. */
  apply (node: string, add: readonly string[], del: readonly string[]): void {
    let peer = this.#peers.get(node)
    if (!peer) {
      if (add.length === 0) return
      peer = { clientId: node, filters: new Map() }
      this.#peers.set(node, peer)
    }
    for (const filter of del) {
      if (peer.filters.delete(filter)) this.#tree.remove(peer, filter)
    }
    for (const filter of add) {
      if (peer.filters.has(filter) || typeof filter !== 'string') continue
      const sub: Subscription<Peer> = { filter, subscriber: peer, qos: 0, nl: false, rap: false, rh: 0, id: 0 }
      peer.filters.set(filter, sub)
      this.#tree.add(sub, filter)
    }
    if (peer.filters.size === 0) this.#peers.delete(node)
    this.#nodes = new WeakMap()
  }

  /** Forgets another node's filters (it stopped). */
  drop (node: string): void {
    const peer = this.#peers.get(node)
    if (!peer) return
    this.#peers.delete(node)
    for (const filter of peer.filters.keys()) this.#tree.remove(peer, filter)
    this.#nodes = new WeakMap()
  }

  /** The other nodes with a filter matching the topic. */
  nodesFor (topic: string): readonly string[] {
    if (this.#peers.size === 0) return NONE
    const match = this.#tree.match(topic)
    let nodes = this.#nodes.get(match)
    if (nodes !== undefined) return nodes
    const subs = match.subscriptions
    if (subs.length === 0) nodes = NONE
    else {
      const seen = new Set<string>()
      for (let i = 0; i < subs.length; i++) seen.add(subs[i]!.subscriber.clientId)
      nodes = [...seen]
    }
    this.#nodes.set(match, nodes)
    return nodes
  }

  /** Whether another node has a filter starting with this level. */
  hasTopLevel (level: string): boolean {
    return this.#tree.hasTopLevel(level)
  }

  /** How many filters another node has. */
  filtersOf (node: string): number {
    return this.#peers.get(node)?.filters.size ?? 0
  }
}
