// Subscription trie. match() results are cached per topic and the cache is dropped on any change,
// so steady traffic on a stable set of subscriptions costs one Map lookup per publish.

export interface SubscriptionOptions {
  qos: 0 | 1 | 2
  /** No Local */
  nl: boolean
  /** Retain As Published */
  rap: boolean
  /** Retain Handling */
  rh: number
  /** Subscription Identifier, 0 when none. */
  id: number
  /** Subscribed as `$exclusive/<filter>` (src/mqtt/exclusive.ts). */
  exclusive?: boolean
}

export interface Subscriber { readonly clientId: string }

export interface Subscription<S extends Subscriber> extends SubscriptionOptions {
  /** The filter as subscribed, `$share/...` included. */
  readonly filter: string
  readonly subscriber: S
}

export interface SharedGroup<S extends Subscriber> {
  /** `group/filter`, unique per tree. */
  readonly key: string
  readonly name: string
  readonly filter: string
  readonly members: Subscription<S>[]
  /** Round-robin cursor. */
  next: number
  /** The sticky strategy's member, until it leaves the group (src/mqtt/shared-pick.ts). */
  sticky: Subscription<S> | null
}

export interface Match<S extends Subscriber> {
  subscriptions: Subscription<S>[]
  groups: SharedGroup<S>[]
}

interface Node<S extends Subscriber> {
  children: Map<string, Node<S>>
  subscriptions: Map<string, Subscription<S>> | null
  groups: Map<string, SharedGroup<S>> | null
}

const newNode = <S extends Subscriber>(): Node<S> => ({ children: new Map(), subscriptions: null, groups: null })

const CACHE_LIMIT = 10_000
/** Topic bytes the cache may hold: clients choose topics of up to 64 KiB, so entries alone would not bound it. */
const CACHE_BYTES = 4 * 1024 * 1024

export class TopicTree<S extends Subscriber> {
  #root: Node<S> = newNode()
  #cache = new Map<string, Match<S>>()
  #cacheBytes = 0
  #count = 0

  /** Number of subscriptions, shared members included. */
  get size (): number { return this.#count }

  /**
   * Adds or replaces; `filter` is the plain filter, `group` the share name for `$share/group/filter`.
   * Returns whether the subscriber had no subscription to it before (not a replacement).
   */
  add (sub: Subscription<S>, filter: string, group?: string): boolean {
    const node = this.#nodeFor(filter, true)!
    this.#clearCache()
    if (group === undefined) {
      node.subscriptions ??= new Map()
      const added = !node.subscriptions.has(sub.subscriber.clientId)
      if (added) this.#count++
      node.subscriptions.set(sub.subscriber.clientId, sub)
      return added
    }
    node.groups ??= new Map()
    let shared = node.groups.get(group)
    if (!shared) {
      shared = { key: `${group}/${filter}`, name: group, filter, members: [], next: 0, sticky: null }
      node.groups.set(group, shared)
    }
    const at = shared.members.findIndex((m) => m.subscriber.clientId === sub.subscriber.clientId)
    if (at >= 0) {
      if (shared.sticky === shared.members[at]) shared.sticky = sub
      shared.members[at] = sub
      return false
    }
    shared.members.push(sub)
    this.#count++
    return true
  }

  /** Whether a filter (plain or a `$share` group's) starts with this level. */
  hasTopLevel (level: string): boolean {
    return this.#root.children.has(level)
  }

  /** Removes the subscriber's subscription; returns whether one existed. */
  remove (subscriber: S, filter: string, group?: string): boolean {
    const levels = filter.split('/')
    const path: Node<S>[] = [this.#root]
    let node: Node<S> | undefined = this.#root
    for (const level of levels) {
      node = node.children.get(level)
      if (!node) return false
      path.push(node)
    }
    let removed = false
    if (group === undefined) {
      const existing = node.subscriptions?.get(subscriber.clientId)
      if (existing && existing.subscriber === subscriber) removed = node.subscriptions!.delete(subscriber.clientId)
      if (node.subscriptions?.size === 0) node.subscriptions = null
    } else {
      const shared = node.groups?.get(group)
      const at = shared ? shared.members.findIndex((m) => m.subscriber === subscriber) : -1
      if (shared && at >= 0) {
        if (shared.sticky === shared.members[at]) shared.sticky = null
        shared.members.splice(at, 1)
        removed = true
        if (shared.members.length === 0) node.groups!.delete(group)
        if (node.groups!.size === 0) node.groups = null
      }
    }
    if (!removed) return false
    this.#count--
    this.#clearCache()
    for (let i = levels.length; i > 0; i--) {
      const n = path[i]!
      if (n.children.size > 0 || n.subscriptions || n.groups) break
      path[i - 1]!.children.delete(levels[i - 1]!)
    }
    return true
  }

  /** The shared group for a filter, if any member remains. */
  group (filter: string, group: string): SharedGroup<S> | undefined {
    return this.#nodeFor(filter, false)?.groups?.get(group)
  }

  match (topic: string): Match<S> {
    const cached = this.#cache.get(topic)
    if (cached) return cached
    const result: Match<S> = { subscriptions: [], groups: [] }
    this.#walk(this.#root, topic.split('/'), 0, topic.charCodeAt(0) === 36, result)
    if (this.#cache.size >= CACHE_LIMIT || this.#cacheBytes + topic.length > CACHE_BYTES) this.#clearCache()
    this.#cache.set(topic, result)
    this.#cacheBytes += topic.length
    return result
  }

  #clearCache (): void {
    this.#cache.clear()
    this.#cacheBytes = 0
  }

  /** @internal topic bytes held by the match cache */
  get cacheBytes (): number { return this.#cacheBytes }

  #walk (node: Node<S>, levels: string[], i: number, dollar: boolean, out: Match<S>): void {
    const skipWildcards = dollar && i === 0
    if (!skipWildcards) {
      const hash = node.children.get('#')
      if (hash) collect(hash, out)
    }
    if (i === levels.length) {
      collect(node, out)
      return
    }
    const exact = node.children.get(levels[i]!)
    if (exact) this.#walk(exact, levels, i + 1, dollar, out)
    if (!skipWildcards) {
      const plus = node.children.get('+')
      if (plus) this.#walk(plus, levels, i + 1, dollar, out)
    }
  }

  #nodeFor (filter: string, create: boolean): Node<S> | undefined {
    let node = this.#root
    for (const level of filter.split('/')) {
      let child = node.children.get(level)
      if (!child) {
        if (!create) return undefined
        child = newNode()
        node.children.set(level, child)
      }
      node = child
    }
    return node
  }
}

function collect<S extends Subscriber> (node: Node<S>, out: Match<S>): void {
  if (node.subscriptions) for (const sub of node.subscriptions.values()) out.subscriptions.push(sub)
  if (node.groups) for (const group of node.groups.values()) out.groups.push(group)
}
