// The ban list in the cluster store (<prefix>:banned, "as:who" → ban), so a node that starts later refuses the
// clients banned before it joined. Nodes running at the time hear of each change as a control notice.
import type { Log } from '../log.js'
import type { Ban, BanKind } from '../mqtt/banned.js'
import { pack, unpack } from './codec.js'
import type { ClusterStore } from './store.js'

export class BanMirror {
  readonly #store: ClusterStore
  readonly #hash: string
  readonly #log: Log

  constructor (store: ClusterStore, prefix: string, log: Log) {
    this.#store = store
    this.#hash = `${prefix}:banned`
    this.#log = log
  }

  add (ban: Ban): void {
    this.#done(this.#store.write(['hset', this.#hash, `${ban.as}:${ban.who}`, pack(ban)]), 'add')
  }

  remove (as: BanKind, who: string): void {
    this.#done(this.#store.write(['hdel', this.#hash, `${as}:${who}`]), 'remove')
  }

  clear (): void {
    this.#done(this.#store.write(['del', this.#hash]), 'clear')
  }

  /** Bans in force. */
  async load (now = Date.now()): Promise<Ban[]> {
    const all = await this.#store.hgetallBuffer(this.#hash)
    return Object.values(all).map((data) => unpack<Ban>(data)).filter((ban) => ban.until > now)
  }

  #done (write: Promise<unknown>, what: string): void {
    write.catch((err: Error) => this.#log.warning({ err: err.message }, `cluster: ban ${what} not written to the cluster store; nodes that start later will not know`))
  }
}
