// Flapping detection (EMQX's emqx_flapping, flapping_detect.*): a client id that connects max_count times
// within window_time is banned as that client id for ban_time. As in EMQX 5.8 the count is of CONNECTs
// that passed the ban check (emqx_channel's count_flapping_event, before authentication); the CONNECT
// that reaches max_count goes on, the next one meets the ban (CONNACK 0x8A). A client's window starts at
// its first counted CONNECT and is not extended; entries older than the window are swept every
// window_time, and the map never holds more than MAX_TRACKED client ids (the oldest is forgotten first),
// so a flood of distinct client ids cannot grow it without bound.
import type { CulexConfig } from '../config/schema.js'
import { escapeControl, type Log } from '../log.js'
import { plainAddress, type Ban, type BanList } from './banned.js'

/** Most client ids tracked at once. */
export const MAX_TRACKED = 100_000

interface Entry { startedAt: number, count: number }

export interface FlappingOptions {
  config: CulexConfig['flapping_detect']
  log: Log
  bans: Pick<BanList, 'add'>
  /** Told of each ban this makes (a cluster passes it to the other nodes). */
  banned?: (ban: Ban) => void
  maxTracked?: number
}

export class FlappingDetector {
  readonly #config: CulexConfig['flapping_detect']
  readonly #log: Log
  readonly #bans: Pick<BanList, 'add'>
  readonly #maxTracked: number
  /** By client id, oldest window first (a restarted window is moved to the end). */
  readonly #entries = new Map<string, Entry>()
  readonly #timer: NodeJS.Timeout | undefined
  banned: ((ban: Ban) => void) | undefined

  constructor (opts: FlappingOptions) {
    this.#config = opts.config
    this.#log = opts.log
    this.#bans = opts.bans
    this.banned = opts.banned
    this.#maxTracked = opts.maxTracked ?? MAX_TRACKED
    if (this.#config.enable) this.#timer = setInterval(() => this.sweep(), Math.max(this.#config.window_time, 100)).unref()
  }

  /** Client ids tracked now. */
  get size (): number { return this.#entries.size }

  /** Counts a CONNECT of `clientId`; returns the ban when this one made the client id flapping. */
  connecting (clientId: string, remoteAddress: string, now = Date.now()): Ban | undefined {
    const cfg = this.#config
    if (!cfg.enable) return undefined
    let entry = this.#entries.get(clientId)
    if (entry && now - entry.startedAt >= cfg.window_time) {
      this.#entries.delete(clientId)
      entry = undefined
    }
    if (!entry) {
      if (this.#entries.size >= this.#maxTracked) this.#makeRoom(now)
      entry = { startedAt: now, count: 0 }
      this.#entries.set(clientId, entry)
    }
    entry.count++
    if (entry.count < cfg.max_count) return undefined
    this.#entries.delete(clientId)
    const ban: Ban = {
      as: 'clientid', who: clientId, by: 'flapping detector', reason: 'flapping is detected', at: now, until: now + cfg.ban_time,
    }
    this.#bans.add(ban)
    this.banned?.(ban)
    this.#log.warning({
      clientid: escapeControl(clientId),
      peerhost: plainAddress(remoteAddress),
      detect_cnt: entry.count,
      window_time_ms: cfg.window_time,
      banned_until: new Date(ban.until).toISOString(),
    }, 'flapping detected: client id banned for flapping_detect.ban_time')
    return ban
  }

  /** Forgets the windows that have ended. */
  sweep (now = Date.now()): void {
    const window = this.#config.window_time
    for (const [id, entry] of this.#entries) {
      if (now - entry.startedAt < window) break
      this.#entries.delete(id)
    }
  }

  /** The map is full: drop ended windows, or else the oldest one. */
  #makeRoom (now: number): void {
    this.sweep(now)
    if (this.#entries.size < this.#maxTracked) return
    const oldest = this.#entries.keys().next()
    if (!oldest.done) this.#entries.delete(oldest.value)
  }

  close (): void {
    clearInterval(this.#timer)
    this.#entries.clear()
  }
}
