// Delayed publish (EMQX's emqx_delayed, delayed.*): a PUBLISH to `$delayed/{seconds}/{topic}` is held and
// published to {topic} once {seconds} have passed. As EMQX 5.8: a number below 4294967 is a delay in
// seconds, a larger one a Unix time (seconds) at most 4294967 s ahead; the publisher is authorized for
// {topic}; max_delayed_messages bounds how many are held (0: no bound); a message whose publisher's client id
// is banned when it falls due is dropped. Held messages are written to the data store when the broker has
// a durable one (durable_storage.backend = lmdb) and come back after a restart.
import { randomBytes } from 'node:crypto'
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { KvTable } from '../store/kv.js'
import type { BanList } from './banned.js'
import { setLongTimeout, type LongTimeout } from './long-timeout.js'
import { ownPayload } from './memory.js'
import type { Message } from './message.js'
import type { Metrics } from './metrics.js'
import { RC } from './reason-codes.js'
import { topicNameError } from './topic.js'

export const DELAYED_PREFIX = '$delayed/'
/** EMQX's ?MAX_INTERVAL: the longest delay, in seconds; a larger number is a Unix time. */
export const MAX_INTERVAL = 4294967

export type DelayedTopic =
  | { ok: true, topic: string, publishAt: number, interval: number }
  | { ok: false, rc: number, reason: string }

/**
 * `$delayed/{seconds}/{topic}` read at `now` (ms). No second level: refused 0x87 (Not authorized), as EMQX's
 * authorization refuses it; a delay that is not a number of seconds, a time too far ahead, or a bad topic:
 * 0x90 (Topic Name invalid).
 */
export function parseDelayed (topic: string, now: number, maxLevels: number): DelayedTopic {
  const rest = topic.slice(DELAYED_PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash < 0) return { ok: false, rc: RC.NOT_AUTHORIZED, reason: 'a delayed publish needs $delayed/{seconds}/{topic}' }
  const delay = rest.slice(0, slash)
  const real = rest.slice(slash + 1)
  if (!/^\d{1,15}$/.test(delay)) return { ok: false, rc: RC.TOPIC_NAME_INVALID, reason: `delay ${JSON.stringify(delay)} is not a number of seconds` }
  const n = Number(delay)
  let publishAt: number
  let interval: number
  if (n < MAX_INTERVAL) {
    publishAt = now + n * 1000
    interval = n
  } else {
    interval = n - Math.round(now / 1000)
    if (interval > MAX_INTERVAL) return { ok: false, rc: RC.TOPIC_NAME_INVALID, reason: `Unix time ${n} is more than ${MAX_INTERVAL} s ahead` }
    publishAt = n * 1000
  }
  const error = topicNameError(real, maxLevels)
  if (error) return { ok: false, rc: RC.TOPIC_NAME_INVALID, reason: `delayed topic ${JSON.stringify(real)}: ${error}` }
  return { ok: true, topic: real, publishAt, interval }
}

/** One held message, as kept in memory and in the data store. */
export interface DelayedRecord {
  /** 32 hex digits (EMQX's msgid). */
  id: string
  /** Epoch ms when it is published. */
  publishAt: number
  /** Seconds it was delayed by. */
  interval: number
  /** Epoch ms of the PUBLISH. */
  publishedAt: number
  username: string | undefined
  message: Omit<Message, 'node'>
}

export interface DelayedOptions {
  config: CulexConfig['delayed']
  log: Log
  metrics: Metrics
  bans: Pick<BanList, 'get'>
  /** Publishes a message that fell due (core.publish). */
  publish: (message: Message) => void
  /** The data store's table, when durable. */
  table?: KvTable<DelayedRecord> | undefined
}

export class DelayedPublisher {
  readonly #opts: DelayedOptions
  readonly #byId = new Map<string, DelayedRecord>()
  /** Held messages, soonest first. */
  readonly #queue: DelayedRecord[] = []
  #timer: LongTimeout | null = null
  #timerAt = Infinity
  #closed = false
  #max = 0

  constructor (opts: DelayedOptions) {
    this.#opts = opts
  }

  get size (): number { return this.#byId.size }
  /** Most messages held at once since start (EMQX's delayed.max). */
  get max (): number { return this.#max }

  /** The messages the data store kept; returns how many. */
  restore (): number {
    const table = this.#opts.table
    if (!table) return 0
    try {
      for (const [, record] of table.entries()) {
        record.message.payload = Buffer.from(record.message.payload)
        this.#insert(record)
      }
    } catch (err) {
      this.#storeFailed(err, 'reading delayed messages')
    }
    this.#arm()
    return this.#byId.size
  }

  /**
   * Holds a message until `publishAt`; false when max_delayed_messages are held already, else the data
   * store's write of it (undefined without one), which rejects when it fails (and is logged either way).
   */
  hold (message: Message, username: string | undefined, publishAt: number, interval: number): false | { stored: Promise<void> | undefined } {
    const max = this.#opts.config.max_delayed_messages
    if (max > 0 && this.#byId.size >= max) return false
    ownPayload(message)
    const { node: _node, ...stored } = message
    const record: DelayedRecord = { id: randomBytes(16).toString('hex'), publishAt, interval, publishedAt: Date.now(), username, message: stored }
    this.#insert(record)
    this.#opts.metrics.messagesDelayed++
    const write = this.#write(() => this.#opts.table?.put(record.id, record), 'saving a delayed message')
    this.#arm()
    return { stored: write }
  }

  /** Held messages, soonest first. */
  list (): readonly DelayedRecord[] { return this.#queue }

  get (id: string): DelayedRecord | undefined { return this.#byId.get(id) }

  /** Drops a held message; false when there is none with that id. */
  delete (id: string): boolean {
    const record = this.#byId.get(id)
    if (!record) return false
    this.#remove(record)
    this.#arm()
    return true
  }

  /** Drops every held message to `topic`; returns how many. */
  deleteTopic (topic: string): number {
    const doomed = this.#queue.filter((r) => r.message.topic === topic)
    for (const record of doomed) this.#remove(record)
    this.#arm()
    return doomed.length
  }

  close (): void {
    this.#closed = true
    this.#timer?.cancel()
    this.#timer = null
  }

  #insert (record: DelayedRecord): void {
    this.#byId.set(record.id, record)
    if (this.#byId.size > this.#max) this.#max = this.#byId.size
    const q = this.#queue
    let lo = 0
    let hi = q.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (q[mid]!.publishAt <= record.publishAt) lo = mid + 1
      else hi = mid
    }
    q.splice(lo, 0, record)
  }

  #remove (record: DelayedRecord): void {
    this.#byId.delete(record.id)
    const at = this.#queue.indexOf(record)
    if (at >= 0) this.#queue.splice(at, 1)
    this.#write(() => this.#opts.table?.remove(record.id), 'removing a delayed message')
  }

  /** Sets the timer for the soonest message. */
  #arm (): void {
    if (this.#closed) return
    const next = this.#queue[0]?.publishAt ?? Infinity
    if (next === this.#timerAt && this.#timer) return
    this.#timer?.cancel()
    this.#timer = null
    this.#timerAt = next
    if (next === Infinity) return
    this.#timer = setLongTimeout(() => { this.#timer = null; this.#due() }, next - Date.now())
  }

  #due (): void {
    const now = Date.now()
    const q = this.#queue
    let n = 0
    while (n < q.length && q[n]!.publishAt <= now) n++
    const due = q.splice(0, n)
    for (const record of due) {
      this.#byId.delete(record.id)
      this.#write(() => this.#opts.table?.remove(record.id), 'removing a delayed message')
      const from = record.message.origin
      if (from !== undefined && this.#opts.bans.get('clientid', from, now)) {
        this.#opts.log.notice({ id: record.id, topic: record.message.topic }, 'delayed message not published: its publisher\'s client id is banned')
        continue
      }
      this.#opts.publish({ ...record.message })
    }
    this.#timerAt = Infinity
    this.#arm()
  }

  /** Starts a write; the failure is logged here, and the promise returned still rejects for whoever awaits it. */
  #write (start: () => Promise<void> | undefined, what: string): Promise<void> | undefined {
    try {
      const write = start()
      write?.catch((err: unknown) => this.#storeFailed(err, what))
      return write
    } catch (err) {
      this.#storeFailed(err, what)
      const failed = Promise.reject(err as Error)
      failed.catch(() => {})
      return failed
    }
  }

  #storeFailed (err: unknown, what: string): void {
    this.#opts.metrics.storeErrors++
    this.#opts.log.error({ err }, `data store failed ${what}; the broker goes on, without this change on disk`)
  }
}
