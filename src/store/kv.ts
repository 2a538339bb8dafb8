// The broker's data store: named tables of JSON values by string key. The durable backend is LMDB
// (lmdb-js): reads are synchronous from a memory map, writes are committed together in transactions, in
// order, and a write's promise resolves once it is on disk, so an acknowledgement can wait for it.
// The memory backend is for tests and embedding.
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import type { RootDatabase, Database } from 'lmdb'
import { CulexError } from '../errors.js'

// lmdb's CommonJS build is one bundled file (msgpackr's too); its ES modules are dozens, ~20 ms more start-up.
const { open } = createRequire(import.meta.url)('lmdb') as typeof import('lmdb')

export interface KvTable<T> {
  get (key: string): T | undefined
  /**
   * Resolves once the value is durable (at once for the memory backend). Writes to every table of a store
   * settle in the order they were issued: a write's promise settles after those of the writes before it.
   */
  put (key: string, value: T): Promise<void>
  remove (key: string): Promise<void>
  /** Entries whose key starts with `prefix`, in key order. */
  entries (prefix?: string): IterableIterator<[string, T]>
  readonly size: number
}

export interface KvStore {
  readonly backend: 'lmdb' | 'memory'
  table<T> (name: string): KvTable<T>
  close (): Promise<void>
}

export type KvBackend = KvStore['backend']

/** A store operation failed: `what` says which, for the log (the broker logs and counts it, metrics storeErrors). */
export type StoreErrorHandler = (err: Error, what: string) => void

/** `dir`: the store's directory under dataDir (each node.workers worker has its own). */
export function openKvStore (backend: KvBackend, dataDir: string, dir = 'store'): KvStore {
  return backend === 'lmdb' ? new LmdbKvStore(dataDir, dir) : new MemoryKvStore()
}

class MemoryTable<T> implements KvTable<T> {
  readonly #map = new Map<string, T>()
  get size (): number { return this.#map.size }
  get (key: string): T | undefined { return this.#map.get(key) }
  async put (key: string, value: T): Promise<void> { this.#map.set(key, value) }
  async remove (key: string): Promise<void> { this.#map.delete(key) }
  * entries (prefix = ''): IterableIterator<[string, T]> {
    for (const key of [...this.#map.keys()].sort()) {
      if (key.startsWith(prefix)) yield [key, this.#map.get(key)!]
    }
  }
}

export class MemoryKvStore implements KvStore {
  readonly backend = 'memory'
  readonly #tables = new Map<string, MemoryTable<unknown>>()
  table<T> (name: string): KvTable<T> {
    let table = this.#tables.get(name)
    if (!table) this.#tables.set(name, table = new MemoryTable())
    return table as KvTable<T>
  }

  async close (): Promise<void> {}
}

/**
 * LMDB refuses a key whose encoding exceeds 1978 bytes (lmdb-js's limit with the default page size; past
 * ~4 KB its key buffer throws a RangeError even on a read), while MQTT allows client ids and topics of
 * 65,535 bytes. A key that does not fit goes to the table's second database under its digest form: its
 * first HEAD_BYTES bytes (so prefix scans still find it), NUL, and the SHA-256 of the whole key. The whole
 * key is stored beside the value and compared on every read.
 */
const LMDB_MAX_KEY_BYTES = 1978
const HEAD_BYTES = 1900

interface LongRecord<T> { key: string, value: T }

/** Whether LMDB takes the key as it is: its UTF-8 bytes, plus the escape byte lmdb-js may prefix. */
function fitsLmdb (key: string): boolean {
  return key.length * 3 < LMDB_MAX_KEY_BYTES || Buffer.byteLength(key) < LMDB_MAX_KEY_BYTES
}

/** The longest start of `key` whose UTF-8 form has at most `bytes` bytes, cut between characters. */
function headOf (key: string, bytes: number): string {
  const utf8 = Buffer.from(key)
  if (utf8.length <= bytes) return key
  let end = bytes
  while (end > 0 && (utf8[end]! & 0xc0) === 0x80) end--
  return utf8.toString('utf8', 0, end)
}

function digestKey (key: string): string {
  return `${headOf(key, HEAD_BYTES)}\u0000${createHash('sha256').update(key).digest('base64url')}`
}

/**
 * The string a key was written as. lmdb-js writes a string of 64 characters or more without escaping
 * U+0000, and reads that byte back as its separator of multi-part keys: the journal's `client id NUL seq`
 * comes back as [client id, seq].
 */
function keyString (key: unknown): string {
  return Array.isArray(key) ? key.map(String).join('\u0000') : String(key)
}

/** LMDB's key order (UTF-8 bytes), for merging the two databases' entries. */
const byKeyBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/** Keys with `prefix` in a database's range: lmdb-js orders them from `start` to the highest code point. */
const rangeOf = (prefix: string) => prefix ? { start: prefix, end: `${prefix}\u{10FFFF}` } : {}

/**
 * A write's outcome. lmdb-js rejects the writes of a failed commit with "Commit failed" and the reason in
 * a second promise, `commitError`; unhandled, that one would end the process. Its reason goes in the error.
 */
async function committed (write: Promise<unknown>): Promise<void> {
  try {
    await write
  } catch (err) {
    const detail = (err as { commitError?: unknown }).commitError
    if (!(detail instanceof Promise)) throw err
    const cause: unknown = await detail.then(() => err, (reason: unknown) => reason)
    throw new CulexError('CULEX_ERR_STORE', `commit failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}

class LmdbTable<T> implements KvTable<T> {
  readonly #db: Database<T, string>
  /** Entries whose key is too long for LMDB, under digestKey(key). */
  readonly #long: Database<LongRecord<T>, string>
  constructor (db: Database<T, string>, long: Database<LongRecord<T>, string>) {
    this.#db = db
    this.#long = long
  }

  get size (): number { return this.#db.getCount() + this.#long.getCount() }

  get (key: string): T | undefined {
    if (fitsLmdb(key)) return this.#db.get(key)
    const record = this.#long.get(digestKey(key))
    return record?.key === key ? record.value : undefined
  }

  // async: an error thrown by lmdb-js before the write is queued rejects the promise as a failed write does.
  async put (key: string, value: T): Promise<void> {
    await committed(fitsLmdb(key) ? this.#db.put(key, value) : this.#long.put(digestKey(key), { key, value }))
  }

  // Always a write, never a read first: reads see committed values only, so a put of this key still in
  // flight would be missed and survive the removal; and a removal settling at once would settle before
  // the writes issued ahead of it, which KvTable promises never happens. Under its digest form the key
  // is the SHA-256 of the whole key, so the entry there is this key's.
  async remove (key: string): Promise<void> {
    await committed(fitsLmdb(key) ? this.#db.remove(key) : this.#long.remove(digestKey(key)))
  }

  * entries (prefix = ''): IterableIterator<[string, T]> {
    const long = this.#longEntries(prefix)
    let next = 0
    // A prefix too long for LMDB is no literal key's prefix: only long keys can have it.
    if (fitsLmdb(prefix)) {
      for (const entry of this.#db.getRange(rangeOf(prefix))) {
        const key = keyString(entry.key)
        while (next < long.length && byKeyBytes(long[next]!.key, key) < 0) { const l = long[next++]!; yield [l.key, l.value] }
        yield [key, entry.value]
      }
    }
    for (; next < long.length; next++) yield [long[next]!.key, long[next]!.value]
  }

  /** The long keys with `prefix`, in key order (their digest forms are ordered by head, then hash). */
  #longEntries (prefix: string): LongRecord<T>[] {
    const out: LongRecord<T>[] = []
    for (const { value } of this.#long.getRange(rangeOf(headOf(prefix, HEAD_BYTES)))) {
      if (value.key.startsWith(prefix)) out.push(value)
    }
    return out.sort((a, b) => byKeyBytes(a.key, b.key))
  }
}

export class LmdbKvStore implements KvStore {
  readonly backend = 'lmdb'
  readonly #root: RootDatabase
  readonly #tables = new Map<string, LmdbTable<unknown>>()

  constructor (dataDir: string, dir = 'store') {
    const path = join(resolve(dataDir), dir)
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 })
      // eventTurnBatching off: with it, a failed commit (disk full, EIO, a file size limit) also rejects a
      // promise lmdb-js keeps to itself, and that unhandled rejection ends the process. Without it, writes
      // are still grouped into transactions (from the next setImmediate, or once 5 are queued), in order.
      this.#root = open({ path, maxDbs: 64, eventTurnBatching: false })
    } catch (err) {
      throw new CulexError('CULEX_ERR_STORE', `cannot open the data store in ${path} (node.data_dir): ${(err as Error).message}`, { cause: err })
    }
  }

  table<T> (name: string): KvTable<T> {
    let table = this.#tables.get(name)
    if (!table) {
      table = new LmdbTable(this.#root.openDB<unknown, string>({ name }), this.#root.openDB<LongRecord<unknown>, string>({ name: `${name}~long` }))
      this.#tables.set(name, table)
    }
    return table as KvTable<T>
  }

  async close (): Promise<void> {
    await this.#root.close()
  }
}
