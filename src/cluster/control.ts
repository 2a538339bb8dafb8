// Control messages between nodes: requests to one node on <prefix>:ctl:<node>, answered on the
// asker's channel, and notices to every node on <prefix>:ctl. A request not answered in time
// resolves to undefined: the asker goes on alone.
import type { Log } from '../log.js'
import type { Ban, BanKind } from '../mqtt/banned.js'
import type { SessionTransfer } from '../mqtt/store/session-record.js'
import { pack, unpack } from './codec.js'
import type { ManageNotice } from './management.js'
import type { PeerBus } from './peer-bus.js'

export type ControlRequest =
  | { t: 'takeover', clientId: string, cleanStart: boolean }
  | { t: 'kick', clientId: string }

export interface ControlReply { t: 'reply', found: boolean, session?: SessionTransfer | undefined }

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
      this.#send(this.#channel(node), { ...request, from: this.#node, id })
    })
  }

  /** Tells every other node. */
  broadcast (notice: ControlNotice): void {
    this.#send(this.#channel(), { ...notice, from: this.#node, id: 0 })
  }

  /** Settles the requests still waiting (the node is stopping). */
  close (): void {
    for (const settle of [...this.#pending.values()]) settle(undefined)
  }

  #channel (node?: string): string {
    return node === undefined ? `${this.#prefix}:ctl` : `${this.#prefix}:ctl:${node}`
  }

  #send (channel: string, envelope: Envelope): void {
    this.#bus.send(channel, pack(envelope))
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
        case 'reply': this.#pending.get(id)?.({ t: 'reply', found: envelope.found, session: envelope.session }); break
        case 'takeover':
        case 'kick': {
          const reply = this.#handlers.request(envelope, from)
          this.#send(this.#channel(from), { ...reply, from: this.#node, id })
          break
        }
        default: this.#handlers.notice(envelope, from)
      }
    } catch (err) {
      this.#log.error({ err, from, type: envelope.t }, 'cluster: handling a control message failed')
    }
  }
}
