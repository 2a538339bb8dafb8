// The ban list in Redis (<prefix>:banned, "as:who" → ban), so a node that starts later refuses the
// clients banned before it joined. Nodes running at the time hear of each change as a control notice.
import type { Redis } from 'ioredis'
import type { Log } from '../log.js'
import type { Ban, BanKind } from '../mqtt/banned.js'
import { pack, unpack } from './codec.js'

export class BanMirror {
  readonly #redis: Redis
  readonly #hash: string
  readonly #log: Log

  constructor (redis: Redis, prefix: string, log: Log) {
    this.#redis = redis
    this.#hash = `${prefix}:banned`
    this.#log = log
  }

  add (ban: Ban): void {
    this.#done(this.#redis.hset(this.#hash, `${ban.as}:${ban.who}`, pack(ban)), 'add')
  }

  remove (as: BanKind, who: string): void {
    this.#done(this.#redis.hdel(this.#hash, `${as}:${who}`), 'remove')
  }

  clear (): void {
    this.#done(this.#redis.del(this.#hash), 'clear')
  }

  /** Bans in force. */
  async load (now = Date.now()): Promise<Ban[]> {
    const all = await this.#redis.hgetallBuffer(this.#hash)
    return Object.values(all).map((data) => unpack<Ban>(data)).filter((ban) => ban.until > now)
  }

  #done (write: Promise<unknown>, what: string): void {
    write.catch((err: Error) => this.#log.warning({ err: err.message }, `cluster: ban ${what} not written to Redis; nodes that start later will not know`))
  }
}
