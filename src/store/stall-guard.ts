// lmdb-js can stop confirming writes without failing them: when its writer thread cannot begin a
// transaction (an I/O error left by an earlier commit, seen on a full disk), it prints the error and
// leaves the queued writes unsettled, and every later write waits behind them. A broker waiting on them
// would hold its publishers' acknowledgements, and its shutdown, forever, with nothing in its own log.
// The guard fails every write still waiting once none has settled for `stallMs`.
import { CulexError } from '../errors.js'

interface Waiting { resolve: () => void, reject: (err: Error) => void }

export class StallGuard {
  readonly #stallMs: number
  readonly #waiting = new Set<Waiting>()
  #settled = 0
  #settledAtCheck = 0
  #timer: NodeJS.Timeout | null = null

  constructor (stallMs: number) {
    this.#stallMs = stallMs
  }

  /** `write`, settled as it settles, or failed if no write settles for stallMs meanwhile. Writes settle in the order they were tracked. */
  track (write: Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting: Waiting = { resolve, reject }
      this.#waiting.add(waiting)
      this.#timer ??= setInterval(() => this.#check(), this.#stallMs).unref()
      write.then(() => this.#done(waiting) && resolve(), (err: Error) => this.#done(waiting) && reject(err))
    })
  }

  /** Whether the write was still waiting (not already failed by the guard). */
  #done (waiting: Waiting): boolean {
    this.#settled++
    return this.#waiting.delete(waiting)
  }

  #check (): void {
    if (this.#waiting.size > 0 && this.#settled === this.#settledAtCheck) {
      const err = new CulexError('CULEX_ERR_STORE', `no write was confirmed for ${this.#stallMs / 1000} s (the store's own error, if any, is on stderr)`)
      const stalled = [...this.#waiting]
      this.#waiting.clear()
      for (const waiting of stalled) waiting.reject(err)
    }
    this.#settledAtCheck = this.#settled
    if (this.#waiting.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer)
      this.#timer = null
    }
  }
}
