// The cluster's common store held in one process: the primary of the workers on one host
// (node.workers), which outlives them. Single-threaded, so every operation is atomic as it stands.
import type { ClusterStore, StoreValue, StoreWrite } from './store.js'

interface Plain { value: string, expiresAt: number }

export class MemoryStore implements ClusterStore {
  readonly #hashes = new Map<string, Map<string, StoreValue>>()
  readonly #lists = new Map<string, Buffer[]>()
  readonly #plain = new Map<string, Plain>()

  async hget (key: string, field: string): Promise<string | null> { return text(this.#hashes.get(key)?.get(field)) }
  async hgetBuffer (key: string, field: string): Promise<Buffer | null> { return bytes(this.#hashes.get(key)?.get(field)) }
  async hmget (key: string, fields: string[]): Promise<(string | null)[]> {
    const hash = this.#hashes.get(key)
    return fields.map((f) => text(hash?.get(f)))
  }

  async hgetall (key: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const [f, v] of this.#hashes.get(key) ?? []) out[f] = text(v)!
    return out
  }

  async hgetallBuffer (key: string): Promise<Record<string, Buffer>> {
    const out: Record<string, Buffer> = {}
    for (const [f, v] of this.#hashes.get(key) ?? []) out[f] = bytes(v)!
    return out
  }

  async lrangeBuffer (key: string): Promise<Buffer[]> { return [...(this.#lists.get(key) ?? [])] }

  async keys (prefix: string): Promise<string[]> {
    const out: string[] = []
    for (const map of [this.#hashes, this.#lists]) for (const k of map.keys()) if (k.startsWith(prefix)) out.push(k)
    for (const k of this.#plain.keys()) if (k.startsWith(prefix) && this.#live(k) !== undefined) out.push(k)
    return out
  }

  async write (...writes: StoreWrite[]): Promise<void> {
    for (const w of writes) this.#apply(w)
  }

  /** Applied at once, as write(): nothing is gained by not waiting. */
  post (...writes: StoreWrite[]): Promise<void> {
    return this.write(...writes)
  }

  async hswap (key: string, field: string, value: string): Promise<string | null> {
    const before = text(this.#hashes.get(key)?.get(field))
    this.#apply(['hset', key, field, value])
    return before
  }

  async hsetIf (key: string, field: string, expected: string, value: string): Promise<boolean> {
    if (text(this.#hashes.get(key)?.get(field)) !== expected) return false
    this.#apply(['hset', key, field, value])
    return true
  }

  async hdelIf (key: string, field: string, expected: string): Promise<boolean> {
    if (text(this.#hashes.get(key)?.get(field)) !== expected) return false
    this.#apply(['hdel', key, field])
    return true
  }

  async acquire (key: string, value: string, ms: number): Promise<boolean> {
    if (this.#live(key) !== undefined) return false
    this.#plain.set(key, { value, expiresAt: Date.now() + ms })
    return true
  }

  async renew (key: string, value: string, ms: number): Promise<boolean> {
    const held = this.#live(key)
    if (held !== undefined && held !== value) return false
    this.#plain.set(key, { value, expiresAt: Date.now() + ms })
    return true
  }

  async releaseIf (key: string, value: string): Promise<void> {
    if (this.#live(key) === value) this.#plain.delete(key)
  }

  async mget (keys: string[]): Promise<(string | null)[]> {
    return keys.map((k) => this.#live(k) ?? null)
  }

  /** Removes a plain key whatever it holds (the primary: a worker process exited). */
  drop (key: string): void {
    this.#plain.delete(key)
  }

  #live (key: string): string | undefined {
    const entry = this.#plain.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= Date.now()) { this.#plain.delete(key); return undefined }
    return entry.value
  }

  #hdel (key: string, field: string): void {
    const hash = this.#hashes.get(key)
    if (hash?.delete(field) && hash.size === 0) this.#hashes.delete(key)
  }

  #apply (w: StoreWrite): void {
    switch (w[0]) {
      case 'hset': {
        let hash = this.#hashes.get(w[1])
        if (!hash) this.#hashes.set(w[1], hash = new Map())
        hash.set(w[2], w[3])
        break
      }
      case 'hdel':
        this.#hdel(w[1], w[2])
        break
      case 'hdelIf':
        if (text(this.#hashes.get(w[1])?.get(w[2])) === w[3]) this.#hdel(w[1], w[2])
        break
      case 'del':
        this.#hashes.delete(w[1])
        this.#lists.delete(w[1])
        this.#plain.delete(w[1])
        break
      case 'rpush': {
        if (w.length <= 2) break
        let list = this.#lists.get(w[1])
        if (!list) this.#lists.set(w[1], list = [])
        for (let i = 2; i < w.length; i++) list.push(w[i] as Buffer)
        break
      }
      case 'keep': {
        const list = this.#lists.get(w[1])
        if (list && list.length > w[2]) list.splice(0, list.length - w[2])
        break
      }
    }
  }
}

function text (v: StoreValue | undefined): string | null {
  return v === undefined ? null : typeof v === 'string' ? v : v.toString()
}

function bytes (v: StoreValue | undefined): Buffer | null {
  return v === undefined ? null : typeof v === 'string' ? Buffer.from(v) : v
}
