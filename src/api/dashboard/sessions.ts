// Dashboard login tokens: random, kept in memory with their user, role and expiry. As EMQX, a token lasts
// dashboard.token_expired_time from its last use; it is dropped on logout, and all of a user's are dropped when
// the password, the role or the user goes. A sweep removes expired ones (and logs it).
import { randomBytes } from 'node:crypto'
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'
import type { DashboardRole } from './users.js'

export interface Session {
  readonly username: string
  readonly role: DashboardRole
  /** The user still has the default password: the token reaches only what changing it needs. */
  readonly passwordChangeRequired: boolean
  expiresAt: number
}

/** Tokens one user may hold at once (a script that logs in and never out); the oldest goes first. */
const PER_USER = 100

export class Sessions {
  readonly #byToken = new Map<string, Session>()
  readonly #ttl: number
  readonly #log: Log
  readonly #sweep: NodeJS.Timeout

  constructor (ttlMs: number, log: Log) {
    this.#ttl = ttlMs
    this.#log = log
    this.#sweep = setInterval(() => this.#dropExpired(Date.now()), Math.min(ttlMs, 60_000))
    this.#sweep.unref()
  }

  get size (): number { return this.#byToken.size }

  open (username: string, role: DashboardRole, passwordChangeRequired: boolean): string {
    const held = [...this.#byToken].filter(([, s]) => s.username === username)
    for (const [token] of held.slice(0, Math.max(0, held.length - PER_USER + 1))) this.#byToken.delete(token)
    const token = randomBytes(32).toString('base64url')
    this.#byToken.set(token, { username, role, passwordChangeRequired, expiresAt: Date.now() + this.#ttl })
    return token
  }

  /** The token's session, its expiry moved on; 401 BAD_TOKEN or TOKEN_TIME_OUT otherwise. */
  use (token: string): Session {
    const session = this.#byToken.get(token)
    if (!session) throw new CulexError('CULEX_ERR_API_BAD_TOKEN', 'Get a token by POST /api/v5/login')
    const now = Date.now()
    if (session.expiresAt <= now) {
      this.#byToken.delete(token)
      throw new CulexError('CULEX_ERR_API_TOKEN_EXPIRED', 'Token expired, get a new token by POST /api/v5/login')
    }
    session.expiresAt = now + this.#ttl
    return session
  }

  close (token: string): boolean {
    return this.#byToken.delete(token)
  }

  /** Drops every token of the user; returns how many. */
  closeUser (username: string): number {
    let count = 0
    for (const [token, session] of this.#byToken) {
      if (session.username === username && this.#byToken.delete(token)) count++
    }
    return count
  }

  stop (): void {
    clearInterval(this.#sweep)
    this.#byToken.clear()
  }

  #dropExpired (now: number): void {
    for (const [token, session] of this.#byToken) {
      if (session.expiresAt > now) continue
      this.#byToken.delete(token)
      this.#log.info({ username: session.username }, 'dashboard login session expired (dashboard.token_expired_time)')
    }
  }
}
