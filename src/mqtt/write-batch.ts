// What the connections write while one of them handles what it read leaves when that read is done: one
// socket write per connection per read, as a flush on the next tick would, without a process.nextTick
// (an object and a turn of the tick queue) for every connection written to. A message that arrives alone
// goes out on the same turn with no scheduling at all; a burst of deliveries to one client still leaves
// in one write. Writes outside a read (timers, a store's acknowledgement, a cluster's bus) are flushed on
// the next tick by the connection itself.

/** A connection with bytes queued (Connection). */
export interface Flushable {
  flush (): void
}

export class WriteBatch {
  #depth = 0
  #queued: Flushable[] = []

  /** Whether writes now are gathered until end(). */
  get open (): boolean { return this.#depth > 0 }

  begin (): void {
    this.#depth++
  }

  /** Queues a connection that has just had its first bytes queued; only while open. */
  add (conn: Flushable): void {
    this.#queued.push(conn)
  }

  /** Ends a begin(); the outermost end flushes every connection written to meanwhile. */
  end (): void {
    if (--this.#depth > 0) return
    const queued = this.#queued
    if (queued.length === 0) return
    // A flush can run another connection's read (an in-memory stream): that one gathers in a list of its own.
    this.#queued = []
    for (let i = 0; i < queued.length; i++) queued[i]!.flush()
  }
}
