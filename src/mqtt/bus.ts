// Where accepted messages go to reach subscribers. The local bus delivers in-process and synchronously;
// a cluster bus (Redis) implements the same interface and also delivers what other nodes publish.
import type { Message } from './message.js'

export interface MessageBus {
  /** Hands a message to every node's router, this one included. */
  publish (message: Message): void
  /**
   * Called once by the core with its local router. Messages from other nodes carry `node` (theirs):
   * the core stores their retained ones, as it stored its own when they were published. A cluster bus
   * also passes `groups`: the `$share` groups (keys `group/filter`) this node delivers the message to;
   * without it every matching group is served here.
   */
  onMessage (deliver: (message: Message, groups?: ReadonlySet<string>) => void): void
  /**
   * While what the bus has still to send to other nodes is over its bound: a promise that resolves once
   * it is back under; else null. A publisher waits on it with its reads paused (as TCP would make it
   * wait), instead of the queue growing without bound.
   */
  congested? (): Promise<void> | null
  close (): Promise<void>
}

export class LocalBus implements MessageBus {
  #deliver: (message: Message) => void = () => {}

  publish (message: Message): void {
    this.#deliver(message)
  }

  onMessage (deliver: (message: Message) => void): void {
    this.#deliver = deliver
  }

  async close (): Promise<void> {}
}
