// The broker's data store: named tables of JSON values by string key. The durable backend is LMDB
// (lmdb-js): reads are synchronous from a memory map, writes within one event-loop turn are committed
// together, and a write's promise resolves once it is on disk, so an acknowledgement can wait for it.
// The memory backend is for tests and embedding.
import { mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import type { RootDatabase, Database } from 'lmdb'
import { CulexError } from '../errors.js'

// lmdb's CommonJS build is one bundled file (msgpackr's too); its ES modules are dozens, ~20 ms more start-up.
const { open } = createRequire(import.meta.url)('lmdb') as typeof import('lmdb')

export interface KvTable<T> {
  get (key: string): T | undefined
  /** Resolves once the value is durable (at once for the memory backend). */
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

class LmdbTable<T> implements KvTable<T> {
  readonly #db: Database<T, string>
  constructor (db: Database<T, string>) { this.#db = db }
  get size (): number { return this.#db.getCount() }
  get (key: string): T | undefined { return this.#db.get(key) }
  async put (key: string, value: T): Promise<void> { await this.#db.put(key, value) }
  async remove (key: string): Promise<void> { await this.#db.remove(key) }
  * entries (prefix = ''): IterableIterator<[string, T]> {
    // The highest code point bounds every key that starts with prefix.
    const range = this.#db.getRange(prefix ? { start: prefix, end: `${prefix}\u{10FFFF}` } : {})
    for (const { key, value } of range) yield [key, value]
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
      this.#root = open({ path, maxDbs: 32 })
    } catch (err) {
      throw new CulexError('CULEX_ERR_STORE', `cannot open the data store in ${path} (node.data_dir): ${(err as Error).message}`, { cause: err })
    }
  }

  table<T> (name: string): KvTable<T> {
    let table = this.#tables.get(name)
    if (!table) this.#tables.set(name, table = new LmdbTable(this.#root.openDB<unknown, string>({ name })))
    return table as KvTable<T>
  }

  async close (): Promise<void> {
    await this.#root.close()
  }
}
