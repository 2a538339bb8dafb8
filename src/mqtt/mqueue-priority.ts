// A session's queue when mqtt.mqueue_priorities is set, as EMQX 5.8's (emqx_mqueue): a FIFO per priority, the
// priority of a message found by its exact topic in the table (others get mqueue_default_priority: highest
// or lowest). Higher priorities leave first, in turns: a priority P gives out up to (P + 1) × 10 messages in a
// row (highest: no limit) before the next lower one that holds messages gets its turn, so a flood of one
// priority cannot starve the others for ever. A priority that was empty and gets a message above the one
// being served starts a new round from the top. max_mqueue_len bounds each priority's FIFO (EMQX's
// per-priority length), dropping that priority's oldest; the session's byte budget drops the lowest first.
// Without a priority table the session keeps its plain array (src/mqtt/session.ts): no cost per message.

/** mqtt.mqueue_priorities compiled: each listed topic's priority, and the priority of the others. */
export interface QueuePriorities {
  readonly table: ReadonlyMap<string, number>
  /** mqueue_default_priority: Infinity (highest) or 0 (lowest). */
  readonly other: number
}

/** The table from the configuration; null when disabled. */
export function queuePriorities (table: 'disabled' | Record<string, number>, defaultPriority: 'highest' | 'lowest'): QueuePriorities | null {
  if (table === 'disabled') return null
  return { table: new Map(Object.entries(table)), other: defaultPriority === 'highest' ? Number.POSITIVE_INFINITY : 0 }
}

/** What the queue holds: a session's deliveries (src/mqtt/session.ts). */
interface Queued { readonly message: { readonly topic: string } }

interface Level<Delivery extends Queued> {
  readonly priority: number
  /** Messages it gives out in one turn. */
  readonly turn: number
  items: Delivery[]
  head: number
}

const size = (l: Level<Queued>) => l.items.length - l.head

export class PriorityQueue<Delivery extends Queued> {
  /** Highest priority first; one per priority in the table, and the default's. */
  readonly #levels: Level<Delivery>[]
  readonly #byTopic: Map<string, Level<Delivery>>
  readonly #other: Level<Delivery>
  #length = 0
  /** Index of the level whose turn it is; -1: none (start from the top). */
  #serving = -1
  #credit = 0

  constructor (p: QueuePriorities) {
    const priorities = [...new Set([...p.table.values(), p.other])].sort((a, b) => b - a)
    this.#levels = priorities.map((priority) => ({ priority, turn: priority === Number.POSITIVE_INFINITY ? priority : (priority + 1) * 10, items: [], head: 0 }))
    const at = (priority: number) => this.#levels.find((l) => l.priority === priority)!
    this.#byTopic = new Map([...p.table].map(([topic, priority]) => [topic, at(priority)]))
    this.#other = at(p.other)
  }

  get length (): number { return this.#length }

  /** How many are queued at the priority `d` has. */
  sizeFor (d: Delivery): number { return size(this.#levelOf(d)) }

  push (d: Delivery): void {
    const level = this.#levelOf(d)
    if (size(level) === 0 && this.#serving >= 0 && level.priority > this.#levels[this.#serving]!.priority) this.#serving = -1
    level.items.push(d)
    this.#length++
  }

  /** The next message to send (the queue is not empty). */
  shift (): Delivery {
    const levels = this.#levels
    let i = this.#serving
    if (i < 0 || size(levels[i]!) === 0) {
      i = levels.findIndex((l) => size(l) > 0)
      this.#credit = levels[i]!.turn
    } else if (this.#credit === 0) {
      do i = (i + 1) % levels.length
      while (size(levels[i]!) === 0)
      this.#credit = levels[i]!.turn
    }
    this.#serving = i
    this.#credit--
    return this.#shiftFrom(levels[i]!)
  }

  /** Takes out the oldest message of `d`'s priority (there is one). */
  dropOldestOf (d: Delivery): Delivery {
    return this.#shiftFrom(this.#levelOf(d))
  }

  /** Takes out the oldest message of the lowest priority at or below `d`'s; undefined when every queued one ranks above `d`. */
  dropLowest (d: Delivery): Delivery | undefined {
    const limit = this.#levelOf(d).priority
    for (let i = this.#levels.length - 1; i >= 0; i--) {
      const level = this.#levels[i]!
      if (level.priority > limit) return undefined
      if (size(level) > 0) return this.#shiftFrom(level)
    }
    return undefined
  }

  /** Takes out the messages `pick` selects. */
  take (pick: (d: Delivery) => boolean): Delivery[] {
    const out: Delivery[] = []
    for (const level of this.#levels) {
      const kept: Delivery[] = []
      for (let i = level.head; i < level.items.length; i++) {
        const d = level.items[i]!
        if (pick(d)) out.push(d)
        else kept.push(d)
      }
      level.items = kept
      level.head = 0
    }
    this.#length -= out.length
    return out
  }

  /** Highest priority first, each oldest first. */
  * values (): IterableIterator<Delivery> {
    for (const level of this.#levels) {
      for (let i = level.head; i < level.items.length; i++) yield level.items[i]!
    }
  }

  clear (): void {
    for (const level of this.#levels) { level.items = []; level.head = 0 }
    this.#length = 0
    this.#serving = -1
  }

  #levelOf (d: Delivery): Level<Delivery> {
    return this.#byTopic.get(d.message.topic) ?? this.#other
  }

  #shiftFrom (level: Level<Delivery>): Delivery {
    const d = level.items[level.head]!
    level.items[level.head++] = undefined as never
    this.#length--
    if (level.head > 1024 && level.head * 2 > level.items.length) {
      level.items = level.items.slice(level.head)
      level.head = 0
    }
    return d
  }
}
