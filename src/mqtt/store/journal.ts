// Persistent sessions and retained messages on the data store (durable_storage.backend = lmdb).
// Live state stays in memory; the journal writes what a restart needs: each persistent session's
// subscriptions and expiry, every QoS 1/2 message queued or in flight to it, and the retained
// messages. Writes of one event-loop turn commit together; `barrier()` is what a PUBACK waits for,
// so an acknowledged message is on disk before the publisher hears so.
//
// Messages to persistent sessions are held WINDOW_MS before they are written: a delivery the client
// completes within that time (the usual case for an online subscriber) is never written nor removed,
// and its publisher's PUBACK waits only for that window's other writes. Without it, each message cost
// an LMDB put and a delete.
//
// No store error leaves the journal: a failed read or write is reported to `onError` (logged and counted
// by the broker) and the broker goes on serving from memory, without that change on disk.
import type { KvStore, KvTable, StoreErrorHandler } from '../../store/kv.js'
import type { Message } from '../message.js'
import type { Delivery } from '../session.js'
import { deliveryFrom, messageRecord, type MessageRecord, type SessionRecord } from './session-record.js'

export type { SessionRecord } from './session-record.js'

export interface RestoredDelivery { key: string, delivery: Delivery }

type RetainedRecord = Omit<Message, 'node'>

const SEP = '\u0000'

/** How long message writes wait for their delivery to complete before they go to the store. */
const WINDOW_MS = 2

export class SessionJournal {
  readonly #sessions: KvTable<SessionRecord>
  readonly #messages: KvTable<MessageRecord>
  readonly #retained: KvTable<RetainedRecord>
  readonly #onError: StoreErrorHandler
  #seq = 0
  #pending = 0
  #last: Promise<void> = Promise.resolve()
  /** What close() waits on: called when the last write in flight settles. */
  #drained: (() => void) | null = null
  /** Message writes waiting for the window to close: key → record, or null for a removal. */
  readonly #window = new Map<string, MessageRecord | null>()
  /** Keys added in this window (not in the store: removing them needs no write). */
  readonly #fresh = new Set<string>()
  /** The open window: its timer, and what a PUBACK waits for (settled once its writes are durable). */
  #open: { timer: NodeJS.Timeout, done: Promise<void>, resolve: (last: Promise<void>) => void } | null = null

  constructor (store: KvStore, onError: StoreErrorHandler) {
    this.#sessions = store.table('sessions')
    this.#messages = store.table('session_messages')
    this.#retained = store.table('retained')
    this.#onError = onError
    for (const [key] of this.#read('reading stored messages', () => this.#messages.entries())) {
      const seq = parseInt(key.slice(key.lastIndexOf(SEP) + 1), 16)
      if (seq > this.#seq) this.#seq = seq
    }
  }

  /** Resolves when every write issued so far is durable; undefined when none is pending (no wait needed). */
  barrier (): Promise<void> | undefined {
    if (this.#open) return this.#open.done
    return this.#pending > 0 ? this.#last : undefined
  }

  /** At shutdown, before the store closes: lets writes in flight commit (a removal may wait for one), then writes the window. */
  async close (): Promise<void> {
    if (this.#pending > 0) await new Promise<void>((resolve) => { this.#drained = resolve })
    this.#flush()
  }

  /** Writes what the window holds now. */
  #flush (): void {
    const open = this.#open
    if (open === null) return
    this.#open = null
    clearTimeout(open.timer)
    for (const [key, record] of this.#window) {
      this.#write('writing a queued message', () => record === null ? this.#messages.remove(key) : this.#messages.put(key, record))
    }
    this.#window.clear()
    this.#fresh.clear()
    open.resolve(this.#last)
  }

  // ---- sessions ----

  saveSession (record: SessionRecord): void {
    this.#write('saving a session', () => this.#sessions.put(record.clientId, record))
  }

  dropSession (clientId: string): void {
    const prefix = clientId + SEP
    for (const key of [...this.#window.keys()]) if (key.startsWith(prefix)) this.#unstage(key)
    try {
      if (this.#stored(this.#sessions, clientId)) this.#write('removing a session', () => this.#sessions.remove(clientId))
    } catch (err) {
      this.#onError(err as Error, 'removing a session')
    }
    // Reads see committed writes only: messages written but not yet committed are removed once they are.
    // Keys are ordered by sequence, so the ones queued later, to a new session of this client id, stay.
    const last = `${prefix}${this.#seq.toString(16).padStart(13, '0')}`
    const removeStored = (): void => {
      try {
        for (const [key] of this.#messages.entries(prefix)) {
          if (key > last) break
          this.#stage(key, null)
        }
      } catch (err) {
        this.#onError(err as Error, 'removing a session')
      }
    }
    if (this.#pending === 0) removeStored()
    else this.#last.then(removeStored, removeStored)
  }

  sessions (): IterableIterator<[string, SessionRecord]> {
    return this.#read('reading stored sessions', () => this.#sessions.entries())
  }

  /** A restored session's deliveries in the order they were queued. */
  * deliveries (clientId: string): IterableIterator<RestoredDelivery> {
    for (const [key, r] of this.#read('reading stored messages', () => this.#messages.entries(clientId + SEP))) {
      yield { key, delivery: deliveryFrom(r, key) }
    }
  }

  // ---- messages to persistent sessions ----

  /** Stores a QoS 1/2 delivery to a persistent session; it gets its key. */
  add (clientId: string, d: Delivery): void {
    const key = `${clientId}${SEP}${(++this.#seq).toString(16).padStart(13, '0')}`
    d.key = key
    this.#fresh.add(key)
    this.#stage(key, messageRecord(d))
  }

  /** The client sent PUBREC: what a restart must resend is the PUBREL. */
  released (d: Delivery): void {
    const key = d.key
    if (key === undefined) return
    try {
      const staged = this.#window.get(key)
      const record = staged === undefined ? this.#messages.get(key) : staged
      if (record) this.#stage(key, { ...record, pubrelId: d.packetId })
    } catch (err) {
      this.#onError(err as Error, 'marking a message released')
    }
  }

  /** Delivered, dropped or moved to another session. */
  remove (d: Delivery): void {
    if (d.key === undefined) return
    this.#unstage(d.key)
    d.key = undefined
  }

  #stage (key: string, record: MessageRecord | null): void {
    this.#window.set(key, record)
    if (this.#open) return
    let resolve!: (last: Promise<void>) => void
    // Resolved with the newest write's promise at flush: it settles when that write is durable.
    const done = new Promise<void>((r) => { resolve = r })
    // A failed write was reported to #onError by #write; barrier() callers see the rejection, nobody else must.
    done.catch(() => {})
    this.#open = { timer: setTimeout(() => this.#flush(), WINDOW_MS), done, resolve }
  }

  /** The message is gone: a key added in this window is simply forgotten, any other is removed from the store. */
  #unstage (key: string): void {
    if (this.#fresh.delete(key)) this.#window.delete(key)
    else this.#stage(key, null)
  }

  // ---- retained ----

  retain (message: Message): void {
    const topic = message.topic
    if (message.payload.length === 0) {
      try {
        if (this.#stored(this.#retained, topic)) this.#write('removing a retained message', () => this.#retained.remove(topic))
      } catch (err) {
        this.#onError(err as Error, 'removing a retained message')
      }
      return
    }
    const { node: _node, ...record } = message
    this.#write('saving a retained message', () => this.#retained.put(topic, record))
  }

  retained (): IterableIterator<[string, RetainedRecord]> {
    return this.#read('reading retained messages', () => this.#retained.entries())
  }

  /**
   * Whether `key` may be in the store. Reads see committed writes only, so while writes are in flight a
   * put of this key may be among them: then it may be, and a removal must be written after it.
   */
  #stored (table: KvTable<unknown>, key: string): boolean {
    return this.#pending > 0 || table.get(key) !== undefined
  }

  /** What `open` iterates; a failure part-way is reported and ends the iteration. */
  * #read<T> (what: string, open: () => Iterable<T>): IterableIterator<T> {
    try {
      yield * open()
    } catch (err) {
      this.#onError(err as Error, what)
    }
  }

  /** Tracks a write `start` begins; it fails as a rejected promise, never as a throw. */
  #write (what: string, start: () => Promise<void>): void {
    let done: Promise<void>
    try {
      done = start()
    } catch (err) {
      done = Promise.reject(err as Error)
    }
    this.#pending++
    const tracked = done.then(() => { this.#settled() }, (err: unknown) => {
      this.#settled()
      this.#onError(err as Error, what)
      throw err
    })
    // Writes settle in order (KvTable's promise), so the newest one covers those before it.
    this.#last = tracked
    // Reported to #onError above; the rejection is kept only for the barrier() that waits on #last.
    tracked.catch(() => {})
  }

  #settled (): void {
    if (--this.#pending === 0 && this.#drained !== null) {
      this.#drained()
      this.#drained = null
    }
  }
}
