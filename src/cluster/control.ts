// Control messages between nodes: requests to one node on <prefix>:ctl:<node>, answered on the
// asker's channel, and notices to every node on <prefix>:ctl. A request not answered in time
// resolves to undefined: the asker goes on alone. A notice may ask every node for an acknowledgement
// (broadcastAcked): each answers once it has applied it, and so everything the sender said before.
import type { Log } from '../log.js'
import type { Ban, BanKind } from '../mqtt/banned.js'
import type { SessionTransfer } from '../mqtt/store/session-record.js'
import { pack, unpack } from './codec.js'
import type { ManageNotice } from './management.js'
import type { PeerBus } from './peer-bus.js'

export type ControlRequest =
  | { t: 'takeover', clientId: string, cleanStart: boolean }
  | { t: 'kick', clientId: string }
  /** The asker's plain filters, all of them (it started, or lost touch); answered with the node's own. */
  | { t: 'hello', routes: string[] }

export interface ControlReply { t: 'reply', found: boolean, session?: SessionTransfer | undefined, routes?: string[] | undefined }

export type ControlNotice =
  | { t: 'ban', ban: Ban }
  | { t: 'unban', as: BanKind, who: string }
  | { t: 'unban_all' }
  /** The sender's members of a `$share` group (key `group/filter`); 0 members: it has none left. */
  | { t: 'shared', key: string, members: number, online: number }
  /** The sender is stopping. */
  | { t: 'leave' }
  /** A change made through the sender's management API. */
  | { t: 'manage', change: ManageNotice }
  /** Plain filters the sender gained a first subscriber for, or lost the last one of (src/cluster/routes.ts). */
  | { t: 'routes', add: string[], del: string[] }
  /** A retained message the sender's management API removed. */
  | { t: 'retained_delete', topic: string }

type Envelope = { from: string, id: number } & (ControlRequest | ControlReply | ControlNotice)

export interface ControlHandlers {
  request (request: ControlRequest, from: string): ControlReply
  notice (notice: ControlNotice, from: string): void
}

export class Control {
  readonly #bus: PeerBus
  readonly #prefix: string
  readonly #node: string
  readonly #log: Log
  readonly #handlers: ControlHandlers
  readonly #pending = new Map<number, (reply: ControlReply | undefined) => void>()
  /** Acknowledged notices: id → the nodes not heard from yet, and what runs once there are none. */
  readonly #gathering = new Map<number, { waiting: Set<string>, done (): void }>()
  #nextId = 1

  constructor (bus: PeerBus, prefix: string, node: string, log: Log, handlers: ControlHandlers) {
    this.#bus = bus
    this.#prefix = prefix
    this.#node = node
    this.#log = log
    this.#handlers = handlers
    bus.listen(this.#channel(node), (payload) => this.#receive(payload))
    bus.listen(this.#channel(), (payload) => this.#receive(payload))
  }

  /** Asks one node; undefined when the bus is away or the node has not answered within timeoutMs. */
  request (node: string, request: ControlRequest, timeoutMs: number): Promise<ControlReply | undefined> {
    if (!this.#bus.ready) return Promise.resolve(undefined)
    const id = this.#nextId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), timeoutMs)
      const settle = (reply: ControlReply | undefined) => {
        clearTimeout(timer)
        this.#pending.delete(id)
        resolve(reply)
      }
      this.#pending.set(id, settle)
      this.#send(this.#channel(node), { ...request, from: this.#node, id }, node)
    })
  }

  /** Tells every other node. */
  broadcast (notice: ControlNotice): void {
    this.#send(this.#channel(), { ...notice, from: this.#node, id: 0 })
  }

  /**
   * Tells every other node and waits for `nodes` to acknowledge it; resolves with those that did not
   * within timeoutMs (nor stopped meanwhile: forget()).
   */
  broadcastAcked (notice: ControlNotice, nodes: Iterable<string>, timeoutMs: number): Promise<string[]> {
    const waiting = new Set(nodes)
    waiting.delete(this.#node)
    const id = this.#nextId++
    this.#send(this.#channel(), { ...notice, from: this.#node, id })
    if (waiting.size === 0 || !this.#bus.ready) return Promise.resolve([])
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.#gathering.delete(id)
        resolve([...waiting])
      }
      this.#gathering.set(id, { waiting, done })
    })
  }

  /** A node stopped: nothing waits for it any more. */
  forget (node: string): void {
    for (const gathering of [...this.#gathering.values()]) this.#heard(gathering, node)
  }

  /** Settles the requests still waiting (the node is stopping). */
  close (): void {
    for (const settle of [...this.#pending.values()]) settle(undefined)
    for (const { done } of [...this.#gathering.values()]) done()
  }

  #heard (gathering: { waiting: Set<string>, done (): void }, node: string): void {
    if (gathering.waiting.delete(node) && gathering.waiting.size === 0) gathering.done()
  }

  #channel (node?: string): string {
    return node === undefined ? `${this.#prefix}:ctl` : `${this.#prefix}:ctl:${node}`
  }

  #send (channel: string, envelope: Envelope, to?: string): void {
    this.#bus.send(channel, pack(envelope), to)
  }

  #receive (payload: Buffer): void {
    let envelope: Envelope
    try {
      envelope = unpack<Envelope>(payload)
    } catch (err) {
      this.#log.warning({ err }, 'cluster: undecodable control message ignored')
      return
    }
    const { from, id } = envelope
    if (from === this.#node) return
    try {
      switch (envelope.t) {
        case 'reply': {
          const gathering = this.#gathering.get(id)
          if (gathering) this.#heard(gathering, from)
          else this.#pending.get(id)?.({ t: 'reply', found: envelope.found, session: envelope.session, routes: envelope.routes })
          break
        }
        case 'takeover':
        case 'kick':
        case 'hello': {
          const reply = this.#handlers.request(envelope, from)
          this.#send(this.#channel(from), { ...reply, from: this.#node, id }, from)
          break
        }
        default:
          this.#handlers.notice(envelope, from)
          if (id !== 0) this.#send(this.#channel(from), { t: 'reply', found: true, from: this.#node, id }, from)
      }
    } catch (err) {
      this.#log.error({ err, from, type: envelope.t }, 'cluster: handling a control message failed')
    }
  }
}
