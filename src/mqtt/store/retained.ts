// Retained messages in a topic trie, so a wildcard SUBSCRIBE walks only the matching branches.
import type { Message } from '../message.js'

/** Storage for retained messages; the cluster and durable stores implement the same interface. */
export interface RetainedStore {
  /** Stores the message, or clears the topic when its payload is empty. */
  set (message: Message): void
  get (topic: string): Message | undefined
  /** Retained messages whose topics match a filter, `$`-rules applied. */
  match (filter: string): Message[]
  readonly size: number
  clear (): void
  /** Every retained message, `$` topics included (retainer.msg_clear_interval); without it, those `#` matches. */
  all? (): Message[]
}

interface Node { children: Map<string, Node>; message: Message | undefined }

const newNode = (): Node => ({ children: new Map(), message: undefined })

export class MemoryRetainedStore implements RetainedStore {
  #root = newNode()
  #size = 0

  get size (): number { return this.#size }

  set (message: Message): void {
    const levels = message.topic.split('/')
    if (message.payload.length === 0) {
      this.#delete(this.#root, levels, 0)
      return
    }
    let node = this.#root
    for (const level of levels) {
      let child = node.children.get(level)
      if (!child) { child = newNode(); node.children.set(level, child) }
      node = child
    }
    if (!node.message) this.#size++
    node.message = message
  }

  get (topic: string): Message | undefined {
    let node: Node | undefined = this.#root
    for (const level of topic.split('/')) {
      node = node.children.get(level)
      if (!node) return undefined
    }
    return node.message
  }

  match (filter: string): Message[] {
    const out: Message[] = []
    this.#collect(this.#root, filter.split('/'), 0, out)
    return out
  }

  all (): Message[] {
    const out: Message[] = []
    this.#all(this.#root, false, out)
    return out
  }

  clear (): void {
    this.#root = newNode()
    this.#size = 0
  }

  /** Returns whether the node became empty and can be pruned. */
  #delete (node: Node, levels: string[], i: number): boolean {
    if (i === levels.length) {
      if (node.message) { node.message = undefined; this.#size-- }
    } else {
      const child = node.children.get(levels[i]!)
      if (child && this.#delete(child, levels, i + 1)) node.children.delete(levels[i]!)
    }
    return node.message === undefined && node.children.size === 0
  }

  #collect (node: Node, filter: string[], i: number, out: Message[]): void {
    if (i === filter.length) {
      if (node.message) out.push(node.message)
      return
    }
    const level = filter[i]!
    if (level === '#') {
      this.#all(node, i === 0, out)
      return
    }
    if (level === '+') {
      for (const [name, child] of node.children) {
        if (i === 0 && name.startsWith('$')) continue
        this.#collect(child, filter, i + 1, out)
      }
      return
    }
    const child = node.children.get(level)
    if (child) this.#collect(child, filter, i + 1, out)
  }

  /** Everything under a `#`: the node itself (`a/#` matches `a`) and all descendants. */
  #all (node: Node, atRoot: boolean, out: Message[]): void {
    if (node.message && !atRoot) out.push(node.message)
    for (const [name, child] of node.children) {
      if (atRoot && name.startsWith('$')) continue
      this.#all(child, false, out)
    }
  }
}
