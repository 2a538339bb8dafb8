// Persistent sessions in Redis, so another node can continue them when their node dies: the hash
// <prefix>:sessions (client id → SessionRecord: subscriptions, expiry, when the client left) and, only
// while the client is offline, the list <prefix>:queue:<client id> of the QoS 1/2 messages its session
// holds. The record is written when a persistent session opens, changes its subscriptions or loses its
// connection; the list is rewritten whole when the connection goes, appended to for each message
// queued while offline, and emptied when the client is back. Writes are not waited for.
import type { Redis } from 'ioredis'
import type { Log } from '../log.js'
import type { Delivery, Session, SessionMirror } from '../mqtt/session.js'
import { messageRecord, serialiseSession, sessionRecord, type MessageRecord, type SessionRecord, type SessionTransfer } from '../mqtt/store/session-record.js'
import { pack, unpack } from './codec.js'

export class SessionStoreMirror implements SessionMirror {
  readonly #redis: Redis
  readonly #prefix: string
  readonly #hash: string
  readonly #maxQueue: number
  readonly #log: Log

  constructor (redis: Redis, prefix: string, maxQueue: number, log: Log) {
    this.#redis = redis
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
      return this.#done(this.#redis.multi().hset(this.#hash, session.clientId, pack(sessionRecord(session))).del(list).exec(), 'save', session.clientId)
    }
    const { record, messages } = serialiseSession(session, disconnectedAt)
    const multi = this.#redis.multi().hset(this.#hash, session.clientId, pack(record)).del(list)
    const kept = messages.filter((m) => m.qos !== 0)
    if (kept.length > 0) multi.rpush(list, ...kept.map((m) => pack(m)))
    return this.#done(multi.exec(), 'save', session.clientId)
  }

  /** A QoS 1/2 message queued for an offline session. */
  queued (clientId: string, d: Delivery): void {
    if (this.#maxQueue === 0) return
    const list = this.#list(clientId)
    const pipeline = this.#redis.pipeline().rpush(list, pack(messageRecord(d)))
    if (Number.isFinite(this.#maxQueue)) pipeline.ltrim(list, -this.#maxQueue, -1)
    void this.#done(pipeline.exec(), 'queue', clientId)
  }

  /** The session ended. */
  forget (clientId: string): Promise<void> {
    return this.#done(this.#redis.multi().hdel(this.#hash, clientId).del(this.#list(clientId)).exec(), 'forget', clientId)
  }

  /** A session as its node last wrote it, for another node to continue; undefined when none is kept. */
  async load (clientId: string, now = Date.now()): Promise<SessionTransfer | undefined> {
    const [data, queue] = await Promise.all([this.#redis.hgetBuffer(this.#hash, clientId), this.#redis.lrangeBuffer(this.#list(clientId), 0, -1)])
    if (!data) return undefined
    const record = unpack<SessionRecord>(data)
    // Connected when its node died: its expiry counts from now.
    record.disconnectedAt ??= now
    return { record, messages: queue.map((m) => unpack<MessageRecord>(m)), awaitingRel: [] }
  }

  #done (write: Promise<unknown>, what: string, clientId: string): Promise<void> {
    return write.then(() => {}, (err: Error) => this.#log.debug({ clientId, err: err.message }, `cluster: session ${what} not written to Redis`))
  }
}
