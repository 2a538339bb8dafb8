// Node liveness. Each node holds <prefix>:node:<name> (a random token, expiring node_timeout after
// its last heartbeat) and writes its heartbeat time in the hash <prefix>:nodes, and its current counts
// (/api/v5/stats, JSON) in <prefix>:stats. Holding the key is what makes node names unique; its expiry
// in Redis, not the nodes' clocks, decides who is running.
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'

export interface NodeStatus { node: string, running: boolean, heartbeatAt: number }

// Renews the key only while it is ours, and records the heartbeat and counts; 0 when another process has the name.
const BEAT = `local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
return 1`

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

export class NodeRegistry {
  readonly #redis: Redis
  readonly #prefix: string
  readonly #node: string
  readonly #interval: number
  readonly #timeout: number
  readonly #log: Log
  readonly #figures: () => Record<string, number>
  readonly #token = randomBytes(12).toString('hex')
  #timer: NodeJS.Timeout | null = null
  #lost = false

  constructor (redis: Redis, prefix: string, node: string, heartbeat: { interval: number, timeout: number }, log: Log, figures: () => Record<string, number> = () => ({})) {
    this.#redis = redis
    this.#prefix = prefix
    this.#node = node
    this.#interval = heartbeat.interval
    this.#timeout = heartbeat.timeout
    this.#log = log
    this.#figures = figures
  }

  get #hash (): string { return `${this.#prefix}:nodes` }

  #key (node: string): string { return `${this.#prefix}:node:${node}` }

  /** Takes this node's name; refuses (CULEX_ERR_CLUSTER) while a running node holds it. */
  async claim (): Promise<void> {
    const ok = await this.#redis.set(this.#key(this.#node), this.#token, 'PX', this.#timeout, 'NX')
    if (ok !== 'OK') {
      throw new CulexError('CULEX_ERR_CLUSTER', `node.name ${this.#node} is already used by a running node of this cluster ` +
        `(Redis key ${this.#key(this.#node)}): give every node its own node.name, or wait cluster.node_timeout after a crash`)
    }
    await this.#beat()
  }

  /** Heartbeats every cluster.heartbeat_interval. */
  start (): void {
    this.#timer = setInterval(() => { this.#beat().catch(() => {}) }, this.#interval).unref()
  }

  async alive (node: string): Promise<boolean> {
    return (await this.#redis.exists(this.#key(node))) === 1
  }

  /** Every node that ever joined, with its last heartbeat. */
  async list (): Promise<NodeStatus[]> {
    const beats = await this.#redis.hgetall(this.#hash)
    const nodes = Object.keys(beats).sort()
    if (nodes.length === 0) return []
    const held = await this.#redis.mget(nodes.map((n) => this.#key(n)))
    return nodes.map((node, i) => ({ node, running: held[i] !== null, heartbeatAt: Number(beats[node]) }))
  }

  /** The counts each running node wrote with its last heartbeat, by node. */
  async figures (): Promise<{ node: string, figures: Record<string, number> }[]> {
    const [nodes, all] = await Promise.all([this.list(), this.#redis.hgetall(`${this.#prefix}:stats`)])
    const out: { node: string, figures: Record<string, number> }[] = []
    for (const { node, running } of nodes) {
      const text = all[node]
      if (running && text) out.push({ node, figures: JSON.parse(text) as Record<string, number> })
    }
    return out
  }

  /** Stops heartbeats and gives the name back (a clean stop: the node shows stopped at once). */
  async release (): Promise<void> {
    this.stop()
    await this.#redis.eval(RELEASE, 1, this.#key(this.#node), this.#token)
  }

  stop (): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
  }

  async #beat (): Promise<void> {
    const ours = await this.#redis.eval(BEAT, 3, this.#key(this.#node), this.#hash, `${this.#prefix}:stats`,
      this.#token, this.#timeout, this.#node, Date.now(), JSON.stringify(this.#figures()))
    if (ours === 0 && !this.#lost) {
      this.#lost = true
      this.#log.error({ node: this.#node }, 'cluster: another node now runs under this node.name (this node missed its heartbeats); give every node its own node.name')
    }
  }
}
