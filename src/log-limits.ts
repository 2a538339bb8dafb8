// Limits on what the log writes, as EMQX's: log.throttling (repeated events of the listed kinds logged once
// per time window, then one line with how many were dropped) and log.<handler>.burst_limit (at most max_count
// lines per window_time into one handler, the rest dropped and counted in a line when the window ends).

/**
 * EMQX 5.8's throttled event kinds (log.throttling.msgs), and the lines of Culex that are such events. Kinds
 * without a line here are EMQX features Culex does not have (license, data bridges, resources).
 */
export const THROTTLED_KINDS = [
  'authentication_failure',
  'authorization_permission_denied',
  'cannot_publish_to_topic_due_to_not_authorized',
  'cannot_publish_to_topic_due_to_quota_exceeded',
  'connection_rejected_due_to_license_limit_reached',
  'data_bridge_buffer_overflow',
  'dropped_msg_due_to_mqueue_is_full',
  'external_broker_crashed',
  'failed_to_retain_message',
  'handle_resource_metrics_failed',
  'socket_receive_paused_by_rate_limit',
  'unrecoverable_resource_error',
] as const

export type ThrottledKind = typeof THROTTLED_KINDS[number]

/** A log line's message → its EMQX event kind. */
const KIND_OF_LINE: ReadonlyMap<string, ThrottledKind> = new Map([
  ['authentication refused', 'authentication_failure'],
  ['SUBSCRIBE refused: not authorized', 'authorization_permission_denied'],
  ['will message dropped: publish not authorized', 'authorization_permission_denied'],
  ['PUBLISH refused: not authorized', 'cannot_publish_to_topic_due_to_not_authorized'],
  ['retainer.max_retained_messages reached; retained message not stored', 'failed_to_retain_message'],
  ['retained message over retainer.max_payload_size not stored', 'failed_to_retain_message'],
  ['client throttled by messages_rate / bytes_rate (logged once per connection)', 'socket_receive_paused_by_rate_limit'],
])

/** log.throttling: the first line of each listed kind per window is written, the others counted. */
export class Throttle {
  readonly #kinds: ReadonlySet<ThrottledKind>
  readonly #windowMs: number
  /** Lines of each kind in the current window. */
  readonly #seen = new Map<ThrottledKind, number>()
  #timer: NodeJS.Timeout | null = null

  /** Reports the kinds with lines dropped in a window that ended, and their counts (not called when none were). */
  readonly #report: (dropped: Record<string, number>, periodMs: number) => void

  constructor (kinds: readonly ThrottledKind[], windowMs: number, report: (dropped: Record<string, number>, periodMs: number) => void) {
    this.#kinds = new Set(kinds)
    this.#windowMs = windowMs
    this.#report = report
  }

  /** Whether to write a line with this message; the first of a kind in a window starts its count. */
  allow (msg: unknown): boolean {
    if (typeof msg !== 'string') return true
    const kind = KIND_OF_LINE.get(msg)
    if (kind === undefined || !this.#kinds.has(kind)) return true
    const seen = this.#seen.get(kind) ?? 0
    this.#seen.set(kind, seen + 1)
    // Windows run while such lines come: the first one starts them, a window without any stops them.
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.#windowEnded(), this.#windowMs)
      this.#timer.unref()
    }
    return seen === 0
  }

  #windowEnded (): void {
    if (this.#seen.size === 0) {
      clearInterval(this.#timer!)
      this.#timer = null
      return
    }
    const dropped: Record<string, number> = {}
    for (const [kind, seen] of this.#seen) if (seen > 1) dropped[kind] = seen - 1
    this.#seen.clear()
    if (Object.keys(dropped).length > 0) this.#report(dropped, this.#windowMs)
  }
}

interface Sink { write (line: string): unknown }

/**
 * log.<handler>.burst_limit in front of one handler: up to `max` lines per window (from the first line of the
 * window), the rest dropped; when a window that dropped lines ends, `notice(dropped)` gives the line to write.
 */
export class BurstLimit implements Sink {
  readonly #out: Sink
  readonly #max: number
  readonly #windowMs: number
  readonly #notice: (dropped: number, windowMs: number) => string
  #start = 0
  #count = 0
  #dropped = 0

  constructor (out: Sink, max: number, windowMs: number, notice: (dropped: number, windowMs: number) => string) {
    this.#out = out
    this.#max = max
    this.#windowMs = windowMs
    this.#notice = notice
  }

  write (line: string): void {
    const now = Date.now()
    if (now - this.#start >= this.#windowMs) {
      this.#start = now
      this.#count = 0
    }
    if (++this.#count <= this.#max) {
      this.#out.write(line)
      return
    }
    if (this.#dropped++ === 0) setTimeout(() => this.#report(), this.#start + this.#windowMs - now).unref()
  }

  #report (): void {
    const dropped = this.#dropped
    this.#dropped = 0
    this.#out.write(this.#notice(dropped, this.#windowMs))
  }
}
