// setTimeout for any delay. Node fires a timer of more than 2^31-1 ms (~24.8 days) after 1 ms (with a
// TimeoutOverflowWarning), and a delay clamped to that bound fires early; MQTT's Session Expiry and Will
// Delay Intervals go to 2^32-1 s (~136 years). The wait is made of steps of at most MAX_TIMEOUT_MS.

/** The longest delay setTimeout honours. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1

export interface LongTimeout {
  cancel (): void
}

/** Calls `fn` once `ms` have passed (Infinity: never). Unref'd: it does not keep the process alive. */
export function setLongTimeout (fn: () => void, ms: number): LongTimeout {
  return new SteppedTimeout(fn, ms)
}

class SteppedTimeout implements LongTimeout {
  readonly #fn: () => void
  #left: number
  #timer: NodeJS.Timeout | undefined

  constructor (fn: () => void, ms: number) {
    this.#fn = fn
    this.#left = Math.max(0, ms)
    if (this.#left !== Infinity) this.#arm()
  }

  cancel (): void {
    clearTimeout(this.#timer)
  }

  #arm (): void {
    const step = Math.min(this.#left, MAX_TIMEOUT_MS)
    this.#left -= step
    this.#timer = setTimeout(() => {
      if (this.#left > 0) this.#arm()
      else this.#fn()
    }, step).unref()
  }
}
