// Token buckets for the listeners' EMQX limiters (max_conn_rate, messages_rate, bytes_rate). A bucket
// holds up to one period's amount and refills continuously; taking more than it holds runs into debt,
// and the caller waits until the debt is paid: nothing is ever refused or dropped by a bucket.
import type { Rate } from '../config/types.js'

export class TokenBucket {
  readonly #capacity: number
  /** Tokens added per millisecond. */
  readonly #perMs: number
  #tokens: number
  #last: number

  constructor (rate: Rate, now = Date.now()) {
    this.#capacity = rate.amount
    this.#perMs = rate.amount / rate.periodMs
    this.#tokens = rate.amount
    this.#last = now
  }

  /** Takes one token if the bucket holds one, without running into debt; returns whether it did. */
  tryTake (now: number): boolean {
    let tokens = this.#tokens + (now - this.#last) * this.#perMs
    if (tokens > this.#capacity) tokens = this.#capacity
    this.#last = now
    if (tokens < 1) { this.#tokens = tokens; return false }
    this.#tokens = tokens - 1
    return true
  }

  /** Takes `n` tokens; returns 0, or the milliseconds until the bucket is out of debt. */
  take (n: number, now: number): number {
    let tokens = this.#tokens + (now - this.#last) * this.#perMs
    if (tokens > this.#capacity) tokens = this.#capacity
    this.#last = now
    tokens -= n
    this.#tokens = tokens
    return tokens >= 0 ? 0 : Math.ceil(-tokens / this.#perMs)
  }
}

// A throttled client is paused at least this long, so that a client held at its rate costs ten timers a
// second rather than one per message (EMQX's limiter refills every 100 ms too).
const MIN_PAUSE_MS = 100

/** A client's messages_rate and bytes_rate: both charged per PUBLISH. */
export class PublishLimiter {
  readonly #messages: TokenBucket | null
  readonly #bytes: TokenBucket | null

  /** Returns null when neither rate is limited. */
  static create (messages: Rate | null, bytes: Rate | null): PublishLimiter | null {
    return messages === null && bytes === null ? null : new PublishLimiter(messages, bytes)
  }

  constructor (messages: Rate | null, bytes: Rate | null) {
    const now = Date.now()
    this.#messages = messages ? new TokenBucket(messages, now) : null
    this.#bytes = bytes ? new TokenBucket(bytes, now) : null
  }

  /** Charges one PUBLISH of `size` bytes; returns 0, or how long to stop reading from the client. */
  charge (size: number, now: number): number {
    const a = this.#messages === null ? 0 : this.#messages.take(1, now)
    const b = this.#bytes === null ? 0 : this.#bytes.take(size, now)
    const wait = a > b ? a : b
    return wait === 0 ? 0 : wait < MIN_PAUSE_MS ? MIN_PAUSE_MS : wait
  }
}
