// Retained messages (EMQX's emqx_retainer): the retainer.* limits, the store, its copy on disk and the
// cluster's shared set; max_publish_rate, and msg_clear_interval's removal of expired messages.
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import { ownPayload } from './memory.js'
import { isExpired, type Message } from './message.js'
import { TokenBucket } from './rate-limit.js'
import type { RetainedStore } from './store/index.js'
import type { SessionJournal } from './store/journal.js'
import { isSysTopic } from './topic.js'

/** Where a retained message accepted on this node is announced (a cluster); null on a single node. */
export interface RetainedListener {
  retained (message: Message): void
  /** A retained message removed without a message on the bus (the management API, stop_publish_clear_msg): the other nodes remove theirs. */
  retainedDeleted (topic: string): void
}

export class Retainer {
  readonly store: RetainedStore
  readonly #config: CulexConfig['retainer']
  readonly #log: Log
  readonly #journal: SessionJournal | undefined
  readonly #cluster: () => RetainedListener | null
  /** retainer.max_publish_rate, null when infinity. */
  readonly #publishRate: TokenBucket | null
  #rateLoggedAt = -Infinity
  #rateRefused = 0
  #clearTimer: NodeJS.Timeout | null = null
  /** What a message restored without retainedAt counts as its storing time. */
  readonly #startedAt = Date.now()

  constructor (config: CulexConfig['retainer'], log: Log, store: RetainedStore, journal: SessionJournal | undefined, cluster: () => RetainedListener | null) {
    this.#config = config
    this.#log = log
    this.store = store
    this.#journal = journal
    this.#cluster = cluster
    this.#publishRate = config.max_publish_rate ? new TokenBucket(config.max_publish_rate) : null
    if (config.enable && config.msg_clear_interval > 0) {
      this.#clearTimer = setInterval(() => this.clearExpired(), config.msg_clear_interval).unref()
    }
  }

  /** Whether a retained message with an empty payload (a clear) is not forwarded to subscribers (retainer.stop_publish_clear_msg). */
  stopsClearMessage (message: Message): boolean {
    return message.retain && message.payload.length === 0 && this.#config.enable && this.#config.stop_publish_clear_msg
  }

  /**
   * retainer.msg_clear_interval: removes expired retained messages, at most msg_clear_limit at a time
   * (without it they are skipped when delivered, and stay in the store). Returns how many.
   */
  clearExpired (now = Date.now()): number {
    const limit = this.#config.msg_clear_limit
    let cleared = 0
    for (const message of this.store.all?.() ?? this.store.match('#')) {
      if (!this.#clearable(message, now)) continue
      const clear = { ...message, payload: Buffer.alloc(0), expiresAt: 0 }
      this.store.set(clear)
      this.#journal?.retain(clear)
      if (++cleared >= limit) break
    }
    if (cleared > 0) this.#log.debug({ cleared }, 'expired retained messages removed')
    return cleared
  }

  /**
   * Whether the clearing removes it: expired, or (msg_expiry_interval_override, as in EMQX 5.8's clearing)
   * stored longer ago than the override; a message without expiry only when allow_never_expire is false.
   */
  #clearable (message: Message, now: number): boolean {
    const override = this.#config.msg_expiry_interval_override
    if (override === 0) return isExpired(message, now)
    const overridden = (message.retainedAt ?? this.#startedAt) + override
    if (message.expiresAt === 0) return !this.#config.allow_never_expire && overridden <= now
    return Math.min(overridden, message.expiresAt) <= now
  }

  stop (): void {
    if (this.#clearTimer) clearInterval(this.#clearTimer)
    this.#clearTimer = null
  }

  /** The retained messages the journal kept; returns how many. $SYS ones an older version kept are dropped (see retain()). */
  restore (journal: SessionJournal): number {
    let count = 0
    for (const [topic, message] of [...journal.retained()]) {
      if (isSysTopic(topic)) journal.retain({ ...message, payload: Buffer.alloc(0) })
      else { this.store.set(message); count++ }
    }
    return count
  }

  /**
   * Stores (or, with an empty payload, clears) a retained message; `local`: accepted on this node, from
   * a client with this user name.
   */
  retain (message: Message, local: boolean, username?: string): void {
    const cfg = this.#config
    if (!cfg.enable) return
    // EMQX: past max_publish_rate a retained message is still delivered, but not stored (nor cleared).
    if (local && this.#publishRate !== null && !this.#publishRate.tryTake(Date.now())) {
      this.#rateRefused++
      const now = Date.now()
      if (now - this.#rateLoggedAt >= 10_000) {
        this.#log.warning({ topic: message.topic, refused: this.#rateRefused }, 'retained messages over retainer.max_publish_rate delivered but not stored')
        this.#rateLoggedAt = now
        this.#rateRefused = 0
      }
      return
    }
    if (message.payload.length > cfg.max_payload_size) {
      this.#log.info({ topic: message.topic, size: message.payload.length }, 'retained message over retainer.max_payload_size not stored')
      return
    }
    if (message.payload.length > 0 && cfg.max_retained_messages > 0 && this.store.size >= cfg.max_retained_messages &&
      !this.store.get(message.topic)) {
      this.#log.info({ topic: message.topic }, 'retainer.max_retained_messages reached; retained message not stored')
      return
    }
    const now = Date.now()
    // A copy of its own: the time it was stored and who published it are the retainer API's publish_at and from_username.
    const stored: Message = { ...message, retainedAt: now }
    if (cfg.msg_expiry_interval > 0 && message.expiresAt === 0) stored.expiresAt = now + cfg.msg_expiry_interval
    if (username !== undefined) stored.username = username
    ownPayload(stored)
    this.store.set(stored)
    // The broker's own $SYS messages are published again at every start: kept on disk they were only an
    // LMDB write on the event loop at every heartbeat and stats interval.
    if (!isSysTopic(message.topic)) this.#journal?.retain(stored)
    if (!local) return
    const cluster = this.#cluster()
    cluster?.retained(stored)
    // stop_publish_clear_msg keeps the clearing message off the bus, which is how other nodes would hear of it.
    if (this.stopsClearMessage(message)) cluster?.retainedDeleted(message.topic)
  }

  /**
   * Removes the retained message of `topic` (the management API), without publishing anything; `local`:
   * asked on this node, whose cluster then removes it everywhere. False when there is none.
   */
  delete (topic: string, local = true): boolean {
    const old = this.store.get(topic)
    if (!old) return false
    const clear: Message = { ...old, payload: Buffer.alloc(0), expiresAt: 0 }
    this.store.set(clear)
    this.#journal?.retain(clear)
    if (local) {
      const cluster = this.#cluster()
      cluster?.retained(clear)
      cluster?.retainedDeleted(topic)
    }
    return true
  }

  /** Replaces the retained messages with the cluster's (a node joining), keeping the journal in step. */
  load (messages: Message[]): void {
    if (!this.#config.enable) return
    const journal = this.#journal
    if (journal) {
      const topics = new Set(messages.map((m) => m.topic))
      let dropped = 0
      for (const [topic, old] of [...journal.retained()]) {
        if (!topics.has(topic)) { journal.retain({ ...old, payload: Buffer.alloc(0) }); dropped++ }
      }
      if (dropped > 0) this.#log.notice({ dropped }, 'retained messages kept on disk but no longer retained in the cluster dropped')
    }
    this.store.clear()
    for (const message of messages) {
      this.store.set(message)
      journal?.retain(message)
    }
  }
}
