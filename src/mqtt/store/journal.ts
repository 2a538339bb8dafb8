// Persistent sessions and retained messages on the data store (durable_storage.backend = lmdb).
// Live state stays in memory; the journal writes what a restart needs: each persistent session's
// subscriptions and expiry, every QoS 1/2 message queued or in flight to it, and the retained
// messages. Writes of one event-loop turn commit together; `barrier()` is what a PUBACK waits for,
// so an acknowledged message is on disk before the publisher hears so.
import type { KvStore, KvTable } from '../../store/kv.js'
import type { Message } from '../message.js'
import type { Delivery } from '../session.js'
import { deliveryFrom, messageRecord, type MessageRecord, type SessionRecord } from './session-record.js'

export type { SessionRecord } from './session-record.js'

export interface RestoredDelivery { key: string, delivery: Delivery }

type RetainedRecord = Omit<Message, 'node'>

const SEP = '\u0000'

export class SessionJournal {
  readonly #sessions: KvTable<SessionRecord>
  readonly #messages: KvTable<MessageRecord>
  readonly #retained: KvTable<RetainedRecord>
  readonly #onError: (err: Error) => void
  #seq = 0
  #pending = 0
  #last: Promise<void> = Promise.resolve()

  constructor (store: KvStore, onError: (err: Error) => void) {
    this.#sessions = store.table('sessions')
    this.#messages = store.table('session_messages')
    this.#retained = store.table('retained')
    this.#onError = onError
    for (const [key] of this.#messages.entries()) {
      const seq = parseInt(key.slice(key.lastIndexOf(SEP) + 1), 16)
      if (seq > this.#seq) this.#seq = seq
    }
  }

  /** Resolves when every write issued so far is durable; undefined when none is pending (no wait needed). */
  barrier (): Promise<void> | undefined {
    return this.#pending > 0 ? this.#last : undefined
  }

  // ---- sessions ----

  saveSession (record: SessionRecord): void {
    this.#write(this.#sessions.put(record.clientId, record))
  }

  dropSession (clientId: string): void {
    if (this.#sessions.get(clientId)) this.#write(this.#sessions.remove(clientId))
    for (const [key] of this.#messages.entries(clientId + SEP)) this.#write(this.#messages.remove(key))
  }

  sessions (): IterableIterator<[string, SessionRecord]> {
    return this.#sessions.entries()
  }

  /** A restored session's deliveries in the order they were queued. */
  * deliveries (clientId: string): IterableIterator<RestoredDelivery> {
    for (const [key, r] of this.#messages.entries(clientId + SEP)) yield { key, delivery: deliveryFrom(r, key) }
  }

  // ---- messages to persistent sessions ----

  /** Stores a QoS 1/2 delivery to a persistent session; it gets its key. */
  add (clientId: string, d: Delivery): void {
    const key = `${clientId}${SEP}${(++this.#seq).toString(16).padStart(13, '0')}`
    d.key = key
    this.#write(this.#messages.put(key, messageRecord(d)))
  }

  /** The client sent PUBREC: what a restart must resend is the PUBREL. */
  released (d: Delivery): void {
    const key = d.key
    const record = key ? this.#messages.get(key) : undefined
    if (record) this.#write(this.#messages.put(key!, { ...record, pubrelId: d.packetId }))
  }

  /** Delivered, dropped or moved to another session. */
  remove (d: Delivery): void {
    if (d.key === undefined) return
    this.#write(this.#messages.remove(d.key))
    d.key = undefined
  }

  // ---- retained ----

  retain (message: Message): void {
    if (message.payload.length === 0) {
      if (this.#retained.get(message.topic)) this.#write(this.#retained.remove(message.topic))
      return
    }
    const { node: _node, ...record } = message
    this.#write(this.#retained.put(message.topic, record))
  }

  retained (): IterableIterator<[string, RetainedRecord]> {
    return this.#retained.entries()
  }

  #write (done: Promise<void>): void {
    this.#pending++
    const tracked = done.then(() => { this.#pending-- }, (err: unknown) => {
      this.#pending--
      this.#onError(err as Error)
      throw err
    })
    // Writes commit in order, so the newest one covers those before it.
    this.#last = tracked
    tracked.catch(() => {})
  }
}
