// The cluster's common store in Redis (cluster.backend = redis). Conditional writes are Lua scripts,
// so that each is one atomic step however many nodes race for it.
import type { ChainableCommander, Redis } from 'ioredis'
import type { ClusterStore, StoreWrite } from './store.js'

const HSET_IF = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end
return 0`

const HDEL_IF = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`

const HSWAP = `local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old`

const RENEW = `local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

const RELEASE_IF = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

export class RedisStore implements ClusterStore {
  readonly #redis: Redis

  constructor (redis: Redis) {
    this.#redis = redis
  }

  hget (key: string, field: string): Promise<string | null> { return this.#redis.hget(key, field) }
  hgetBuffer (key: string, field: string): Promise<Buffer | null> { return this.#redis.hgetBuffer(key, field) }
  hmget (key: string, fields: string[]): Promise<(string | null)[]> { return this.#redis.hmget(key, ...fields) }
  hgetall (key: string): Promise<Record<string, string>> { return this.#redis.hgetall(key) }
  hgetallBuffer (key: string): Promise<Record<string, Buffer>> { return this.#redis.hgetallBuffer(key) }
  lrangeBuffer (key: string): Promise<Buffer[]> { return this.#redis.lrangeBuffer(key, 0, -1) }

  async keys (prefix: string): Promise<string[]> {
    const out: string[] = []
    let cursor = '0'
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 500)
      cursor = next
      out.push(...keys)
    } while (cursor !== '0')
    return out
  }

  async write (...writes: StoreWrite[]): Promise<void> {
    const multi = this.#redis.multi()
    for (const w of writes) queue(multi, w)
    const results = await multi.exec()
    const failed = results?.find(([err]) => err)
    if (failed) throw failed[0]!
  }

  /** Redis answers once the writes are applied: nothing is gained by not waiting. */
  post (...writes: StoreWrite[]): Promise<void> {
    return this.write(...writes)
  }

  async hswap (key: string, field: string, value: string): Promise<string | null> {
    const old = await this.#redis.eval(HSWAP, 1, key, field, value)
    return typeof old === 'string' ? old : null
  }

  async hsetIf (key: string, field: string, expected: string, value: string): Promise<boolean> {
    return (await this.#redis.eval(HSET_IF, 1, key, field, expected, value)) === 1
  }

  async hdelIf (key: string, field: string, expected: string): Promise<boolean> {
    return (await this.#redis.eval(HDEL_IF, 1, key, field, expected)) === 1
  }

  async acquire (key: string, value: string, ms: number): Promise<boolean> {
    return (await this.#redis.set(key, value, 'PX', ms, 'NX')) === 'OK'
  }

  async renew (key: string, value: string, ms: number): Promise<boolean> {
    return (await this.#redis.eval(RENEW, 1, key, value, ms)) === 1
  }

  async releaseIf (key: string, value: string): Promise<void> {
    await this.#redis.eval(RELEASE_IF, 1, key, value)
  }

  mget (keys: string[]): Promise<(string | null)[]> {
    return keys.length === 0 ? Promise.resolve([]) : this.#redis.mget(keys)
  }
}

function queue (multi: ChainableCommander, w: StoreWrite): void {
  switch (w[0]) {
    case 'hset': multi.hset(w[1], w[2], w[3]); break
    case 'hdel': multi.hdel(w[1], w[2]); break
    case 'del': multi.del(w[1]); break
    case 'rpush': if (w.length > 2) multi.rpush(w[1], ...(w.slice(2) as Buffer[])); break
    case 'keep': multi.ltrim(w[1], -w[2], -1); break
    case 'hdelIf': multi.eval(HDEL_IF, 1, w[1], w[2], w[3]); break
  }
}

/** A prefix as a literal SCAN MATCH pattern. */
function globEscape (text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
