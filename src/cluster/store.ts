// What the nodes of a cluster keep in common: a few Redis-shaped operations on hashes, lists and
// expiring keys. Redis (cluster.backend = redis, src/cluster/redis-store.ts) and the primary process of
// the workers on one host (node.workers, src/cluster/memory-store.ts behind src/cluster/host/) both
// provide them, so the cluster's logic (src/cluster/cluster.ts and the mirrors) is written once.

export type StoreValue = string | Buffer

/** One write of an atomic group (`StoreWrite[]`, applied all or none). */
export type StoreWrite =
  | ['hset', key: string, field: string, value: StoreValue]
  | ['hdel', key: string, field: string]
  | ['del', key: string]
  | ['rpush', key: string, ...values: Buffer[]]
  /** Keeps the last `count` elements of the list. */
  | ['keep', key: string, count: number]
  /** Removes the hash field only while it is `expected`. */
  | ['hdelIf', key: string, field: string, expected: string]

export interface ClusterStore {
  hget (key: string, field: string): Promise<string | null>
  hgetBuffer (key: string, field: string): Promise<Buffer | null>
  hmget (key: string, fields: string[]): Promise<(string | null)[]>
  hgetall (key: string): Promise<Record<string, string>>
  hgetallBuffer (key: string): Promise<Record<string, Buffer>>
  lrangeBuffer (key: string): Promise<Buffer[]>
  /** The keys (hashes, lists or plain) that start with the prefix. */
  keys (prefix: string): Promise<string[]>
  /** Applies the writes together, in order. */
  write (...writes: StoreWrite[]): Promise<void>
  /**
   * Applies the writes together, in order, without an answer: resolves once they are on their way, so that
   * whatever this node asks the store next sees them; rejects only when they could not be sent.
   */
  post (...writes: StoreWrite[]): Promise<void>
  /** Sets the hash field; resolves with what it held before (null: nothing). */
  hswap (key: string, field: string, value: string): Promise<string | null>
  /** Sets the hash field to `value` only while it is `expected`; true when it did. */
  hsetIf (key: string, field: string, expected: string, value: string): Promise<boolean>
  /** Removes the hash field only while it is `expected`; true when it did. */
  hdelIf (key: string, field: string, expected: string): Promise<boolean>
  /** Sets a plain key expiring after `ms` unless it exists; true when it did. */
  acquire (key: string, value: string, ms: number): Promise<boolean>
  /** Sets the key (expiring after `ms`) while it is absent or `value`; false when another value holds it. */
  renew (key: string, value: string, ms: number): Promise<boolean>
  /** Removes the plain key only while it is `value`. */
  releaseIf (key: string, value: string): Promise<void>
  /** The plain keys' values (null: absent or expired). */
  mget (keys: string[]): Promise<(string | null)[]>
}
