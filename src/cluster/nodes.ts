// Node liveness. Each node holds <prefix>:node:<name> (a random token, expiring node_timeout after
// its last heartbeat) and writes its heartbeat time in the hash <prefix>:nodes, and its current counts
// (/api/v5/stats, JSON) in <prefix>:stats. Holding the key is what makes node names unique; its expiry
// in the cluster store, not the nodes' clocks, decides who is running.
import { randomBytes } from 'node:crypto'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { ClusterStore } from './store.js'

export interface NodeStatus { node: string, running: boolean, heartbeatAt: number }

export class NodeRegistry {
  readonly #store: ClusterStore
  readonly #prefix: string
  readonly #node: string
  readonly #interval: number
  readonly #timeout: number
  readonly #log: Log
  readonly #figures: () => Record<string, number>
  readonly #token = randomBytes(12).toString('hex')
  #timer: NodeJS.Timeout | null = null
  #lost = false

  constructor (store: ClusterStore, prefix: string, node: string, heartbeat: { interval: number, timeout: number }, log: Log, figures: () => Record<string, number> = () => ({})) {
    this.#store = store
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
    if (!(await this.#store.acquire(this.#key(this.#node), this.#token, this.#timeout))) {
      throw new CulexError('CULEX_ERR_CLUSTER', `node.name ${this.#node} is already used by a running node of this cluster ` +
        `(key ${this.#key(this.#node)}): give every node its own node.name, or wait cluster.node_timeout after a crash`)
    }
    await this.#beat()
  }

  /** Heartbeats every cluster.heartbeat_interval. */
  start (): void {
    this.#timer = setInterval(() => {
      // The bus warns about the store being away; each missed heartbeat is only worth a debug line.
      this.#beat().catch((err: Error) => this.#log.debug({ err: err.message }, 'cluster: heartbeat not written'))
    }, this.#interval).unref()
  }

  async alive (node: string): Promise<boolean> {
    return (await this.#store.mget([this.#key(node)]))[0] !== null
  }

  /** Every node that ever joined, with its last heartbeat. */
  async list (): Promise<NodeStatus[]> {
    const beats = await this.#store.hgetall(this.#hash)
    const nodes = Object.keys(beats).sort()
    if (nodes.length === 0) return []
    const held = await this.#store.mget(nodes.map((n) => this.#key(n)))
    return nodes.map((node, i) => ({ node, running: held[i] !== null, heartbeatAt: Number(beats[node]) }))
  }

  /** The counts each running node wrote with its last heartbeat, by node. */
  async figures (): Promise<{ node: string, figures: Record<string, number> }[]> {
    const [nodes, all] = await Promise.all([this.list(), this.#store.hgetall(`${this.#prefix}:stats`)])
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
    await this.#store.releaseIf(this.#key(this.#node), this.#token)
  }

  stop (): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
  }

  async #beat (): Promise<void> {
    const ours = await this.#store.renew(this.#key(this.#node), this.#token, this.#timeout)
    if (ours) {
      await this.#store.write(['hset', this.#hash, this.#node, String(Date.now())], ['hset', `${this.#prefix}:stats`, this.#node, JSON.stringify(this.#figures())])
    } else if (!this.#lost) {
      this.#lost = true
      this.#log.error({ node: this.#node }, 'cluster: another node now runs under this node.name (this node missed its heartbeats); give every node its own node.name')
    }
  }
}
