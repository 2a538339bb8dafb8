// Sessions by client id. The in-memory store keeps live objects; durable stores (issue 8) persist them.
import type { Session } from '../session.js'

export interface SessionStore {
  get (clientId: string): Session | undefined
  set (session: Session): void
  delete (clientId: string): void
  values (): IterableIterator<Session>
  readonly size: number
}

export class MemorySessionStore implements SessionStore {
  readonly #sessions = new Map<string, Session>()

  get size (): number { return this.#sessions.size }
  get (clientId: string): Session | undefined { return this.#sessions.get(clientId) }
  set (session: Session): void { this.#sessions.set(session.clientId, session) }
  delete (clientId: string): void { this.#sessions.delete(clientId) }
  values (): IterableIterator<Session> { return this.#sessions.values() }
}
