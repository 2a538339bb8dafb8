// Which node holds which client's session: the hash <prefix>:clients, client id → node name. A node
// takes the entry when a client connects there (reading who held it before, in the same step), and
// removes it when the session ends there, unless another node has taken the client since. Removals are
// not waited for.
import type { Log } from '../log.js'
import type { ClusterStore } from './store.js'

export class ClientDirectory {
  readonly #store: ClusterStore
  readonly #hash: string
  readonly #node: string
  readonly #log: Log

  constructor (store: ClusterStore, prefix: string, node: string, log: Log) {
    this.#store = store
    this.#hash = `${prefix}:clients`
    this.#node = node
    this.#log = log
  }

  /** The node holding the client's session, if any. */
  async owner (clientId: string): Promise<string | null> {
    return this.#store.hget(this.#hash, clientId)
  }

  /** The nodes holding these clients' sessions (null: none). */
  async owners (clientIds: string[]): Promise<(string | null)[]> {
    return this.#store.hmget(this.#hash, clientIds)
  }

  /** Every client id held by that node. */
  async heldBy (node: string): Promise<string[]> {
    const all = await this.#store.hgetall(this.#hash)
    return Object.keys(all).filter((id) => all[id] === node)
  }

  /** Takes the client from a stopped node; false when another node took it first. */
  async inherit (clientId: string, from: string): Promise<boolean> {
    return this.#store.hsetIf(this.#hash, clientId, from, this.#node)
  }

  /** Removes the entry while it still names that node. */
  async releaseFor (clientId: string, node: string): Promise<void> {
    await this.#store.hdelIf(this.#hash, clientId, node)
  }

  /** Records the client as held here; resolves with the node that held it before (null: none). */
  async take (clientId: string): Promise<string | null> {
    return this.#store.hswap(this.#hash, clientId, this.#node)
  }

  claim (clientId: string): void {
    this.#store.post(['hset', this.#hash, clientId, this.#node]).catch((err: Error) => this.#failed('claim', clientId, err))
  }

  release (clientId: string): Promise<void> {
    return this.#store.post(['hdelIf', this.#hash, clientId, this.#node]).catch((err: Error) => this.#failed('release', clientId, err))
  }

  #failed (what: string, clientId: string, err: Error): void {
    // While the store is away the bus has said so once; this is the detail.
    this.#log.debug({ clientId, err: err.message }, `cluster: session ${what} not recorded in the cluster store`)
  }
}
