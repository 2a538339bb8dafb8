// What a backend's failures look like in the log: one warning when requests start failing (with the
// reason), again only when the reason changes or after a quiet minute, and one notice when it answers
// again. A server that is down for every client of a reconnect storm is one line, not thousands.
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'

/** Shortest time between two warnings with the same reason. */
export const REPEAT_AFTER_MS = 60_000

/** A backend failure with a reason a person can act on. */
export class BackendError extends CulexError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('CULEX_ERR_BACKEND', message, options)
  }
}

export class BackendHealth {
  readonly #log: Log
  readonly #fields: Record<string, unknown>
  #failing: string | null = null
  #warnedAt = 0
  /** Failures since start (for tests and the API). */
  failures = 0

  /** `fields`: what names the backend in each line (authenticator or source, server). */
  constructor (log: Log, fields: Record<string, unknown>) {
    this.#log = log
    this.#fields = fields
  }

  get failing (): boolean {
    return this.#failing !== null
  }

  failed (reason: string): void {
    this.failures++
    const now = Date.now()
    if (reason === this.#failing && now - this.#warnedAt < REPEAT_AFTER_MS) return
    this.#failing = reason
    this.#warnedAt = now
    this.#log.warning({ ...this.#fields, reason }, `backend request failed: ${reason}`)
  }

  ok (): void {
    if (this.#failing === null) return
    this.#failing = null
    this.#log.notice(this.#fields, 'backend answers again')
  }
}

/** A short, readable reason for a network or TLS error (ECONNREFUSED → "connection refused by host:port"). */
export function describeNetworkError (err: unknown, where: string): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
  const code = e?.code ?? e?.cause?.code
  switch (code) {
    case 'ECONNREFUSED': return `connection refused by ${where} (is the server running?)`
    case 'ENOTFOUND': case 'EAI_AGAIN': return `cannot resolve the host of ${where}`
    case 'ECONNRESET': case 'UND_ERR_SOCKET': return `${where} closed the connection`
    case 'ETIMEDOUT': case 'UND_ERR_CONNECT_TIMEOUT': return `timed out connecting to ${where}`
    case 'EHOSTUNREACH': case 'ENETUNREACH': return `${where} is unreachable`
    case 'DEPTH_ZERO_SELF_SIGNED_CERT': case 'SELF_SIGNED_CERT_IN_CHAIN': case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE': case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return `the TLS certificate of ${where} is not signed by a CA in ssl.cacertfile (${code})`
    case 'ERR_TLS_CERT_ALTNAME_INVALID': return `the TLS certificate of ${where} is not for that name (set ssl.server_name_indication?)`
    case 'CERT_HAS_EXPIRED': return `the TLS certificate of ${where} has expired`
    default: {
      const message = e?.cause?.message ?? e?.message ?? String(err)
      return `${where}: ${code ? `${code} ` : ''}${message}`
    }
  }
}
