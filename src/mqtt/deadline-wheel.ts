// Connections by the step (half-second) their next deadline falls in: the CONNECT deadline (idle_timeout),
// then keep-alive. A packet only moves a connection's lastSeen; an entry whose deadline has moved on is
// filed again, further on, when its step comes. So ten thousand idle clients cost one visit each per
// keep-alive period, where a sweep over every connection every step visited each of them 180 times per
// 90 s keep-alive window.

export interface WheelEntry {
  /** The step this entry is filed under; -1 when none. Kept by the wheel. */
  wheelStep: number
}

export class DeadlineWheel<T extends WheelEntry> {
  readonly #stepMs: number
  readonly #steps = new Map<number, Set<T>>()
  /** The last step handed out. */
  #done: number

  constructor (stepMs: number, now = Date.now()) {
    this.#stepMs = stepMs
    this.#done = Math.floor(now / stepMs)
  }

  /** Files `entry` to come due at the first step at or after `at` (ms since the epoch); once per entry. */
  add (entry: T, at: number): void {
    if (entry.wheelStep !== -1) this.remove(entry)
    const step = Math.max(Math.ceil(at / this.#stepMs), this.#done + 1)
    let set = this.#steps.get(step)
    if (set === undefined) {
      set = new Set()
      this.#steps.set(step, set)
    }
    set.add(entry)
    entry.wheelStep = step
  }

  remove (entry: T): void {
    if (entry.wheelStep === -1) return
    const set = this.#steps.get(entry.wheelStep)
    if (set !== undefined) {
      set.delete(entry)
      if (set.size === 0) this.#steps.delete(entry.wheelStep)
    }
    entry.wheelStep = -1
  }

  /** Hands every entry whose step has come to `due` (which may file it again). */
  advance (now: number, due: (entry: T, now: number) => void): void {
    const last = Math.floor(now / this.#stepMs)
    // After a long stall (a suspended process) walk only the steps that hold entries.
    if (last - this.#done > this.#steps.size) {
      const steps = [...this.#steps.keys()].filter((s) => s <= last).sort((a, b) => a - b)
      this.#done = last
      for (const step of steps) this.#handOut(step, now, due)
      return
    }
    while (this.#done < last) this.#handOut(++this.#done, now, due)
  }

  #handOut (step: number, now: number, due: (entry: T, now: number) => void): void {
    const set = this.#steps.get(step)
    if (set === undefined) return
    this.#steps.delete(step)
    for (const entry of set) {
      entry.wheelStep = -1
      due(entry, now)
    }
  }
}
