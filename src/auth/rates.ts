// EMQX's rate, rate_max and rate_last5m (per second) for the status endpoints of authorization sources and
// authenticators, as its metrics worker computes them: every 10 s each counter's increase over that
// interval is the current rate; rate_max is the highest since start; rate_last5m the mean of the last 30.

const SAMPLE_MS = 10_000
const SAMPLES_5M = 300_000 / SAMPLE_MS

export interface Rate { rate: number, rate_max: number, rate_last5m: number }

interface Track { last: number, current: number, max: number, recent: number[] }

export class RateSampler {
  readonly #read: () => Iterable<readonly [string, number]>
  readonly #tracks = new Map<string, Track>()
  readonly #timer: NodeJS.Timeout

  /** `read`: each counter's id and its total since it was created (at 0). */
  constructor (read: () => Iterable<readonly [string, number]>) {
    this.#read = read
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS).unref()
  }

  #sample (): void {
    for (const [id, total] of this.#read()) {
      let track = this.#tracks.get(id)
      if (!track) this.#tracks.set(id, track = { last: 0, current: 0, max: 0, recent: [] })
      const rate = Math.max(0, total - track.last) / (SAMPLE_MS / 1000)
      track.last = total
      track.current = rate
      if (rate > track.max) track.max = rate
      track.recent.push(rate)
      if (track.recent.length > SAMPLES_5M) track.recent.shift()
    }
  }

  rate (id: string): Rate {
    const track = this.#tracks.get(id)
    if (!track || track.recent.length === 0) return { rate: 0, rate_max: 0, rate_last5m: 0 }
    const sum = track.recent.reduce((a, b) => a + b, 0)
    return { rate: track.current, rate_max: track.max, rate_last5m: sum / track.recent.length }
  }

  close (): void {
    clearInterval(this.#timer)
  }
}
