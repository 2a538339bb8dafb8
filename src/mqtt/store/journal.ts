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
// by the broker) and the broker goes on serving from memory, without that change on disk. A store that
// stops confirming writes altogether (lmdb-js, when its writer thread cannot begin a transaction, leaves
// them waiting) is reported the same way after STALL_MS, and what waited on those writes is failed.
import { CulexError } from '../../errors.js'
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

/** With writes in flight, how long the store may go without confirming any before it counts as stalled. */
const STALL_MS = 10_000

/** Called once every write issued before it has settled (`ok`), or when one of them failed or the store stalled. */
interface Waiter { readonly upTo: number, readonly ok: () => void, readonly failed: (err: Error) => void }

export class SessionJournal {
  readonly #sessions: KvTable<SessionRecord>
  readonly #messages: KvTable<MessageRecord>
  readonly #retained: KvTable<RetainedRecord>
  readonly #onError: StoreErrorHandler
  #seq = 0
  /** Writes issued and settled so far; they settle in the order they were issued (KvTable). */
  #issued = 0
  #settledCount = 0
  /** What the newest write was doing, for the stall report. */
  #lastWhat = ''
  /** Waiting for writes, in the order of `upTo`; entries before `#waitersHead` are done. */
  readonly #waiters: (Waiter | undefined)[] = []
  #waitersHead = 0
  /** The last barrier() outside a window: the PUBACKs of one write's turn share it. */
  #barrier: { readonly upTo: number, readonly done: Promise<void> } | null = null
  /** Checks, while writes are in flight, that the store still confirms some (see STALL_MS). */
  #watchdog: NodeJS.Timeout | null = null
  #settledAtCheck = 0
  /** What close() waits on: called when the last write in flight settles. */
  #drained: (() => void) | null = null
  /** Message writes waiting for the window to close: key → record, or null for a removal. */
  readonly #window = new Map<string, MessageRecord | null>()
  /** Keys added in this window (not in the store: removing them needs no write). */
  readonly #fresh = new Set<string>()
  /** The open window: its timer, and what a PUBACK waits for (settled once its writes are durable). */
  #open: { timer: NodeJS.Timeout, done: Promise<void>, ok: () => void, failed: (err: Error) => void } | null = null

  readonly #stallMs: number

  /** `stallMs`: see STALL_MS (tests shorten it). */
  constructor (store: KvStore, onError: StoreErrorHandler, stallMs = STALL_MS) {
    this.#stallMs = stallMs
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
    if (this.#pending === 0) return undefined
    const shared = this.#barrier
    if (shared !== null && shared.upTo === this.#issued) return shared.done
    const done = new Promise<void>((ok, failed) => this.#waiters.push({ upTo: this.#issued, ok, failed }))
    // A failed write was reported to #onError by #write; barrier() callers see the rejection, nobody else must.
    done.catch(() => {})
    this.#barrier = { upTo: this.#issued, done }
    return done
  }

  /**
   * At shutdown, before the store closes: lets writes in flight commit (a removal may wait for one), then
   * writes the window. A stalled store is given up on (and reported) after STALL_MS.
   */
  async close (): Promise<void> {
    if (this.#pending > 0) await new Promise<void>((resolve) => { this.#drained = resolve })
    this.#flush()
  }

  get #pending (): number { return this.#issued - this.#settledCount }

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
    if (this.#pending === 0) open.ok()
    else this.#waiters.push({ upTo: this.#issued, ok: open.ok, failed: open.failed })
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
    else this.#waiters.push({ upTo: this.#issued, ok: removeStored, failed: removeStored })
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
    let ok!: () => void
    let failed!: (err: Error) => void
    // Settled once the writes issued up to the window's flush are durable.
    const done = new Promise<void>((resolve, reject) => { ok = resolve; failed = reject })
    // A failed write was reported to #onError by #write; barrier() callers see the rejection, nobody else must.
    done.catch(() => {})
    this.#open = { timer: setTimeout(() => this.#flush(), WINDOW_MS), done, ok, failed }
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
    this.#issued++
    this.#lastWhat = what
    if (this.#watchdog === null) {
      this.#settledAtCheck = this.#settledCount
      this.#watchdog = setTimeout(checkStall, this.#stallMs, this).unref()
    }
    done.then(() => { this.#settled(null) }, (err: unknown) => {
      this.#onError(err as Error, what)
      this.#settled(err as Error)
    })
  }

  /** One write settled (the oldest in flight): wakes the waiters it completes, or fails them all if it failed. */
  #settled (err: Error | null): void {
    const settled = ++this.#settledCount
    // Every waiter left waits for this write too.
    if (err !== null) this.#failWaiters(err)
    else {
      const waiters = this.#waiters
      while (this.#waitersHead < waiters.length && waiters[this.#waitersHead]!.upTo <= settled) {
        const waiter = waiters[this.#waitersHead]!
        waiters[this.#waitersHead++] = undefined
        waiter.ok()
      }
      if (this.#waitersHead === waiters.length) {
        waiters.length = 0
        this.#waitersHead = 0
      }
    }
    if (this.#pending === 0) this.#drain()
  }

  #failWaiters (err: Error): void {
    const waiters = this.#waiters.splice(this.#waitersHead)
    this.#waiters.length = 0
    this.#waitersHead = 0
    for (const waiter of waiters) waiter!.failed(err)
  }

  #drain (): void {
    if (this.#drained !== null) {
      this.#drained()
      this.#drained = null
    }
  }

  /** @internal the watchdog's timer: the store confirmed no write since the last check, with some in flight. */
  checkStall (): void {
    if (this.#pending === 0) {
      this.#watchdog = null
      return
    }
    if (this.#settledCount !== this.#settledAtCheck) {
      this.#settledAtCheck = this.#settledCount
      this.#watchdog!.refresh()
      return
    }
    const err = new CulexError('CULEX_ERR_STORE', `the data store has confirmed none of ${this.#pending} writes in ${this.#stallMs / 1000} s; what waited for them fails`)
    this.#onError(err, this.#lastWhat)
    this.#failWaiters(err)
    this.#drain()
    this.#watchdog!.refresh()
  }
}

function checkStall (journal: SessionJournal): void {
  journal.checkStall()
}
