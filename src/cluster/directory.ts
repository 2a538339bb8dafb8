// Which node holds which client's session: the hash <prefix>:clients, client id → node name. A node
// writes the entry when a session opens there and removes it when the session ends there, unless
// another node has taken the client since. Writes are not waited for.
import type { Redis } from 'ioredis'
import type { Log } from '../log.js'

// Removes the entry only while it names this node.
const RELEASE = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`

// Moves the entry to this node only while it names the node given (a stopped one).
const INHERIT = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end
return 0`

export class ClientDirectory {
  readonly #redis: Redis
  readonly #hash: string
  readonly #node: string
  readonly #log: Log

  constructor (redis: Redis, prefix: string, node: string, log: Log) {
    this.#redis = redis
    this.#hash = `${prefix}:clients`
    this.#node = node
    this.#log = log
  }

  /** The node holding the client's session, if any. */
  async owner (clientId: string): Promise<string | null> {
    return this.#redis.hget(this.#hash, clientId)
  }

  /** The nodes holding these clients' sessions (null: none). */
  async owners (clientIds: string[]): Promise<(string | null)[]> {
    return this.#redis.hmget(this.#hash, ...clientIds)
  }

  /** Every client id held by that node. */
  async heldBy (node: string): Promise<string[]> {
    const all = await this.#redis.hgetall(this.#hash)
    return Object.keys(all).filter((id) => all[id] === node)
  }

  /** Takes the client from a stopped node; false when another node took it first. */
  async inherit (clientId: string, from: string): Promise<boolean> {
    return (await this.#redis.eval(INHERIT, 1, this.#hash, clientId, from, this.#node)) === 1
  }

  /** Removes the entry while it still names that node. */
  async releaseFor (clientId: string, node: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.#hash, clientId, node)
  }

  claim (clientId: string): void {
    this.#redis.hset(this.#hash, clientId, this.#node).catch((err: Error) => this.#failed('claim', clientId, err))
  }

  release (clientId: string): Promise<void> {
    return this.#redis.eval(RELEASE, 1, this.#hash, clientId, this.#node).then(() => {}, (err: Error) => this.#failed('release', clientId, err))
  }

  #failed (what: string, clientId: string, err: Error): void {
    // While Redis is away the bus has said so once; this is the detail.
    this.#log.debug({ clientId, err: err.message }, `cluster: session ${what} not recorded in Redis`)
  }
}
