// Persistent sessions in the cluster store, so another node can continue them when their node dies: the hash
// <prefix>:sessions (client id → SessionRecord: subscriptions, expiry, when the client left) and, only
// while the client is offline, the list <prefix>:queue:<client id> of the QoS 1/2 messages its session
// holds. The record is written when a persistent session opens, changes its subscriptions or loses its
// connection; the list is rewritten whole when the connection goes, appended to for each message
// queued while offline, and emptied when the client is back. Writes are not waited for.
import type { Log } from '../log.js'
import type { Delivery, Session, SessionMirror } from '../mqtt/session.js'
import { messageRecord, serialiseSession, sessionRecord, type MessageRecord, type SessionRecord, type SessionTransfer } from '../mqtt/store/session-record.js'
import { pack, unpack } from './codec.js'
import type { ClusterStore, StoreWrite } from './store.js'

export class SessionStoreMirror implements SessionMirror {
  readonly #store: ClusterStore
  readonly #prefix: string
  readonly #hash: string
  readonly #maxQueue: number
  readonly #log: Log

  constructor (store: ClusterStore, prefix: string, maxQueue: number, log: Log) {
    this.#store = store
    this.#prefix = prefix
    this.#hash = `${prefix}:sessions`
    this.#maxQueue = maxQueue
    this.#log = log
  }

  #list (clientId: string): string { return `${this.#prefix}:queue:${clientId}` }

  /** The session as it is now: connected (record only, no list) or not (`disconnectedAt`: record and its whole queue). */
  save (session: Session, disconnectedAt?: number): Promise<void> {
    const list = this.#list(session.clientId)
    if (disconnectedAt === undefined) {
      return this.#done(this.#store.write(['hset', this.#hash, session.clientId, pack(sessionRecord(session))], ['del', list]), 'save', session.clientId)
    }
    const { record, messages } = serialiseSession(session, disconnectedAt)
    const kept = messages.filter((m) => m.qos !== 0).map((m) => pack(m))
    return this.#done(this.#store.write(['hset', this.#hash, session.clientId, pack(record)], ['del', list], ['rpush', list, ...kept]), 'save', session.clientId)
  }

  /** A QoS 1/2 message queued for an offline session. */
  queued (clientId: string, d: Delivery): void {
    if (this.#maxQueue === 0) return
    const list = this.#list(clientId)
    const writes: StoreWrite[] = [['rpush', list, pack(messageRecord(d))]]
    if (Number.isFinite(this.#maxQueue)) writes.push(['keep', list, this.#maxQueue])
    void this.#done(this.#store.write(...writes), 'queue', clientId)
  }

  /** The session ended. */
  forget (clientId: string): Promise<void> {
    return this.#done(this.#store.write(['hdel', this.#hash, clientId], ['del', this.#list(clientId)]), 'forget', clientId)
  }

  /** A session as its node last wrote it, for another node to continue; undefined when none is kept. */
  async load (clientId: string, now = Date.now()): Promise<SessionTransfer | undefined> {
    const [data, queue] = await Promise.all([this.#store.hgetBuffer(this.#hash, clientId), this.#store.lrangeBuffer(this.#list(clientId))])
    if (!data) return undefined
    const record = unpack<SessionRecord>(data)
    // Connected when its node died: its expiry counts from now.
    record.disconnectedAt ??= now
    return { record, messages: queue.map((m) => unpack<MessageRecord>(m)), awaitingRel: [] }
  }

  #done (write: Promise<unknown>, what: string, clientId: string): Promise<void> {
    return write.then(() => {}, (err: Error) => this.#log.debug({ clientId, err: err.message }, `cluster: session ${what} not written to the cluster store`))
  }
}
