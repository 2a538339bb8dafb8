// The dashboard monitor (EMQX's emqx_dashboard_monitor): every dashboard.sample_interval, on multiples of
// it, the node's gauges and how many messages were received, sent and dropped since the sample before,
// kept in a ring that holds the last hour (a fixed number of slots: 3600 s / interval, plus one).
import type { StatsSource } from '../mqtt/stats.js'
import { nodeStats } from '../mqtt/stats.js'

const HOUR_MS = 3600 * 1000

/** Gauges, as EMQX names them in a sample. */
export const GAUGES = ['connections', 'live_connections', 'subscriptions', 'topics', 'retained_msg_count', 'shared_subscriptions'] as const
/** Counters sampled as the increase over the interval, and the name of their per-second rate. */
export const DELTAS = { received: 'received_msg_rate', sent: 'sent_msg_rate', dropped: 'dropped_msg_rate' } as const

type Gauge = (typeof GAUGES)[number]
type Delta = keyof typeof DELTAS
type RateName = (typeof DELTAS)[Delta]

export type Gauges = Record<Gauge, number>
export type Rates = Record<RateName, number>
export type Sample = { time_stamp: number } & Gauges & Record<Delta, number> & Rates

interface Counters { time: number, received: number, sent: number, dropped: number }

export class MonitorRing {
  readonly intervalMs: number
  readonly #source: StatsSource
  readonly #slots: (Sample | undefined)[]
  /** Where the next sample goes. */
  #next = 0
  /** The counters as of the last sample (or the start). */
  #last: Counters
  #timer: NodeJS.Timeout | null = null

  constructor (source: StatsSource, intervalMs: number, now = Date.now()) {
    this.#source = source
    this.intervalMs = intervalMs
    this.#slots = new Array<Sample | undefined>(Math.ceil(HOUR_MS / intervalMs) + 1)
    this.#last = this.#counters(now)
  }

  /** Samples on each multiple of the interval until stop(); the timer keeps no process alive. */
  start (): void {
    if (this.#timer) return
    // A timer may fire a millisecond before its time by the wall clock: the next slot is counted from
    // the one just sampled, never from the clock alone, so that no two samples share a stamp.
    const schedule = (after: number) => {
      const now = Date.now()
      const from = Math.max(now, after)
      const at = from - (from % this.intervalMs) + this.intervalMs
      this.#timer = setTimeout(() => { this.sample(at); schedule(at) }, at - now).unref()
    }
    schedule(0)
  }

  stop (): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** Takes a sample stamped `time` (epoch ms) into the ring. */
  sample (time = Date.now()): Sample {
    const now = this.#counters(time)
    const sample = { time_stamp: time, ...this.gauges(), ...deltas(now, this.#last), ...rates(now, this.#last) }
    this.#last = now
    this.#slots[this.#next] = sample
    this.#next = (this.#next + 1) % this.#slots.length
    return sample
  }

  /** The samples stamped at or after `since` (epoch ms), oldest first. */
  since (since: number): Sample[] {
    const out: Sample[] = []
    for (let i = 0; i < this.#slots.length; i++) {
      const s = this.#slots[(this.#next + i) % this.#slots.length]
      if (s !== undefined && s.time_stamp >= since) out.push(s)
    }
    return out
  }

  gauges (): Gauges {
    const stats = nodeStats(this.#source)
    return {
      connections: stats['connections.count'],
      live_connections: stats['live_connections.count'],
      subscriptions: stats['subscriptions.count'],
      topics: stats['topics.count'],
      retained_msg_count: stats['retained.count'],
      shared_subscriptions: stats['subscriptions.shared.count'],
    }
  }

  /**
   * Per-second rates since the last sample (as EMQX's monitor_current); within a second of it, the last
   * sample's own rates, so that a read just after a sample does not divide a handful of messages by nothing.
   */
  rates (time = Date.now()): Rates {
    if (time - this.#last.time < 1000) {
      const last = this.#slots[(this.#next + this.#slots.length - 1) % this.#slots.length]
      if (last !== undefined) return { received_msg_rate: last.received_msg_rate, sent_msg_rate: last.sent_msg_rate, dropped_msg_rate: last.dropped_msg_rate }
    }
    return rates(this.#counters(time), this.#last)
  }

  #counters (time: number): Counters {
    const m = this.#source.metrics
    return { time, received: m.messagesReceived, sent: m.messagesSent, dropped: m.messagesDropped }
  }
}

function deltas (now: Counters, last: Counters): Record<Delta, number> {
  return { received: now.received - last.received, sent: now.sent - last.sent, dropped: now.dropped - last.dropped }
}

/** Per second, two decimals; 0 over no time. */
function rates (now: Counters, last: Counters): Rates {
  const ms = now.time - last.time
  const rate = (n: number) => ms > 0 ? Math.round(n * 100_000 / ms) / 100 : 0
  const d = deltas(now, last)
  return { received_msg_rate: rate(d.received), sent_msg_rate: rate(d.sent), dropped_msg_rate: rate(d.dropped) }
}
