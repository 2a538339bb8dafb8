// Brute force, as EMQX 5.9's login lock (EMQX 5.8 has none): unsuccessful_login_max_attempts failures for one
// user name within unsuccessful_login_interval lock that name for unsuccessful_login_lock_duration, and the
// lock is logged once, with the peer of the last attempt. Names that exist and names that do not are counted
// alike, so the lock does not tell which exist. At most MAX_NAMES names are tracked; the stalest go first.
import type { Log } from '../../log.js'

export interface LockSettings { maxAttempts: number, intervalMs: number, lockMs: number }

interface Attempts { failures: number[], lockedUntil: number }

const MAX_NAMES = 10_000
/** How much of a hostile user name goes into the log. */
const LOGGED_NAME_LENGTH = 100

export class LoginLock {
  readonly #names = new Map<string, Attempts>()
  readonly #settings: LockSettings
  readonly #log: Log

  constructor (settings: LockSettings, log: Log) {
    this.#settings = settings
    this.#log = log
  }

  /** Whether the name is locked now. */
  locked (name: string, now = Date.now()): boolean {
    return (this.#names.get(name)?.lockedUntil ?? 0) > now
  }

  /** Counts a failure; locks the name (and logs it) when it reaches the limit. */
  failed (name: string, peer: string, now = Date.now()): void {
    const { maxAttempts, intervalMs, lockMs } = this.#settings
    const attempts = this.#names.get(name) ?? { failures: [], lockedUntil: 0 }
    // Re-inserted, so that the map's first entries are the stalest.
    this.#names.delete(name)
    this.#names.set(name, attempts)
    if (this.#names.size > MAX_NAMES) this.#evict(now)
    attempts.failures = attempts.failures.filter((t) => t > now - intervalMs)
    attempts.failures.push(now)
    if (attempts.failures.length < maxAttempts) return
    attempts.failures = []
    attempts.lockedUntil = now + lockMs
    this.#log.warning({
      username: loggedName(name), peer, max_attempts: maxAttempts, interval: `${intervalMs / 1000}s`,
      lock_duration: `${lockMs / 1000}s`, locked_until: new Date(attempts.lockedUntil).toISOString(),
    }, `dashboard login locked for this user name after ${maxAttempts} failed attempts within ${intervalMs / 1000}s (dashboard.unsuccessful_login_*)`)
  }

  /** Drops the stalest name that is not locked (among the stalest few), else the stalest: flooding other names does not lift a lock easily. */
  #evict (now: number): void {
    let seen = 0
    for (const [name, attempts] of this.#names) {
      if (attempts.lockedUntil <= now || ++seen >= 100) {
        this.#names.delete(name)
        return
      }
    }
  }

  /** A successful login or password change clears the name's count and lock. */
  reset (name: string): void {
    this.#names.delete(name)
  }
}

/** A user name as it may be logged: at most LOGGED_NAME_LENGTH characters. */
export function loggedName (name: string): string {
  return name.length > LOGGED_NAME_LENGTH ? `${name.slice(0, LOGGED_NAME_LENGTH)}...` : name
}
