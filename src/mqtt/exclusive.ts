// Exclusive subscriptions (EMQX's emqx_exclusive_subscription, mqtt.exclusive_subscription): a client
// subscribes `$exclusive/<filter>` to be the only exclusive subscriber of <filter>. The subscription is to
// <filter> itself; while one client id holds it, another's `$exclusive/<filter>` gets SUBACK 0x97 (Quota
// exceeded) and its holder subscribing again is allowed. The hold ends when the holder's subscription to
// <filter> goes: UNSUBSCRIBE (of `$exclusive/<filter>` or <filter>) or the end of its session. Holds are
// per node (EMQX keeps them cluster-wide).

export const EXCLUSIVE_PREFIX = '$exclusive/'

export class ExclusiveLocks {
  /** filter → the client id holding it */
  readonly #holders = new Map<string, string>()

  get size (): number { return this.#holders.size }

  holder (filter: string): string | undefined {
    return this.#holders.get(filter)
  }

  /** Takes `filter` for `clientId`; false when another client id holds it. */
  acquire (filter: string, clientId: string): boolean {
    const holder = this.#holders.get(filter)
    if (holder !== undefined) return holder === clientId
    this.#holders.set(filter, clientId)
    return true
  }

  /** Lets `filter` go if `clientId` holds it. */
  release (filter: string, clientId: string): void {
    if (this.#holders.get(filter) === clientId) this.#holders.delete(filter)
  }
}
