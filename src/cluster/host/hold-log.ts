// The log lines of a hold on publishers because a worker reads what is sent to it too slowly: under a
// sustained overload holds come and go many times a second, so one warning a minute, the rest at debug
// (the end of a hold logged at warning is logged at info).
import type { Log } from '../../log.js'

const INTERVAL_MS = 60_000

export class HoldLog {
  readonly #log: Log
  readonly #whose: string
  #loggedAt = 0
  #loud = false

  /** `whose`: whose publishers wait ("every worker's", "this worker's"). */
  constructor (log: Log, whose: string) {
    this.#log = log
    this.#whose = whose
  }

  started (slow: string[]): void {
    const now = Date.now()
    this.#loud = now - this.#loggedAt >= INTERVAL_MS
    if (this.#loud) this.#loggedAt = now
    this.#log[this.#loud ? 'warning' : 'debug']({ workers: slow }, `workers: a worker reads the messages relayed to it too slowly; ${this.#whose} publishers wait`)
  }

  ended (): void {
    this.#log[this.#loud ? 'info' : 'debug']('workers: relayed messages drained; publishers go on')
  }
}
