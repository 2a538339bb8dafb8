// Direct connections between the workers of one host (node.workers): each worker listens on a Unix socket
// of its own (in a private directory: src/cluster/host/socket-dir.ts) and connects to another the first
// time it has a message for it; from then on everything it sends that worker, messages and control
// notices alike, goes over that connection, each payload as the peer bus encoded it (frames.ts), instead
// of two hops through the primary. A connection carries one way: a worker writes on the connections it
// opened and reads those the others opened.
//
// Order per destination: while a connection comes up, payloads go through the primary. Once it is up, the
// sender tells the receiver so through the primary (a `switch` naming the connection), then writes
// everything after on the connection; the receiver reads the connection only once that `switch` has
// arrived, that is, after everything sent through the primary before it.
import { unlink } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { Log } from '../../log.js'
import { FrameReader, frameHeader } from './frames.js'
import type { PeerInfo } from './protocol.js'

/** A worker whose socket refused a connection is tried again after this long (meanwhile: through the primary). */
const RETRY_MS = 1000
/** How long a stopping worker gives its connections to write what they hold. */
const LAST_WRITES_MS = 2000
/** The channel of a connection's first frame, which names its sender and the connection (no bus channel is empty). */
const HELLO = Buffer.alloc(0)

export interface DirectOwner {
  /** A payload another worker wrote on its connection to this one. */
  receive (channel: string, payload: Buffer): void
  /** Tells `to`, through the primary, that the connection `gen` is up; false when the primary is unreachable. */
  switched (to: string, gen: string): boolean
  /** A connection drained or closed: what waits to be written is less. */
  drained (): void
}

interface Outbound { readonly socket: Socket, readonly gen: string, open: boolean }

interface Peer { readonly node: string, readonly pid: number, readonly path: string | null, out: Outbound | null, retryAt: number }

/** A connection another worker opened; read once its `switch` has come through the primary. */
interface Inbound { readonly socket: Socket, readonly reader: FrameReader, from: string | null, gen: string, open: boolean }

export class DirectLinks {
  readonly #node: string
  readonly #path: string | null
  readonly #log: Log
  readonly #owner: DirectOwner
  /** The other workers, as the primary announced them. */
  readonly #peers = new Map<string, Peer>()
  readonly #inbound = new Set<Inbound>()
  /** The connection each worker last said may be read. */
  readonly #switched = new Map<string, string>()
  /** Channel names, encoded once. */
  readonly #channels = new Map<string, Buffer>()
  #server: Server | null = null
  #nextGen = 1
  #closed = false
  /** Payload bytes written straight to other workers. */
  bytes = 0

  /** `path`: where this worker listens (null: it does not, and only connects to the others). */
  constructor (node: string, path: string | null, log: Log, owner: DirectOwner) {
    this.#node = node
    this.#path = path
    this.#log = log
    this.#owner = owner
  }

  /** Listens on this worker's socket; resolves with its path, or null when it cannot (the others then reach it through the primary). */
  async listen (): Promise<string | null> {
    const path = this.#path
    if (path === null) return null
    // A socket file left by a worker of the same slot that died without closing it.
    await unlink(path).catch(() => {})
    const server = createServer((socket) => this.#accept(socket))
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        // exclusive: this worker's own socket (node:cluster would have the primary listen and hand connections out).
        server.listen({ path, exclusive: true }, () => { server.off('error', reject); resolve() })
      })
    } catch (err) {
      this.#log.warning({ path, err: (err as Error).message }, 'workers: cannot listen for direct connections; the other workers reach this one through the primary')
      return null
    }
    server.on('error', (err) => this.#log.warning({ path, err: err.message }, 'workers: the direct socket failed'))
    this.#server = server
    return path
  }

  /** The other workers' node names. */
  nodes (): IterableIterator<string> {
    return this.#peers.keys()
  }

  /** Another worker joined (or this one learns of it as it joins). */
  peer (info: PeerInfo): void {
    const known = this.#peers.get(info.node)
    if (known?.pid === info.pid) return
    if (known) this.#drop(known)
    this.#peers.set(info.node, { node: info.node, pid: info.pid, path: info.path, out: null, retryAt: 0 })
  }

  /** Another worker exited: what is still on its way to it is lost, as it would be through the primary. */
  gone (info: PeerInfo): void {
    const known = this.#peers.get(info.node)
    if (known?.pid !== info.pid) return
    this.#drop(known)
    this.#peers.delete(info.node)
    this.#switched.delete(info.node)
  }

  #drop (peer: Peer): void {
    peer.out?.socket.destroy()
    peer.out = null
  }

  /**
   * Writes to `node` when its connection is up, and says whether it did; when it did not and `connect`,
   * opens the connection for what comes next.
   */
  write (node: string, channel: string, payload: Buffer, connect: boolean): boolean {
    const peer = this.#peers.get(node)
    if (peer === undefined) return false
    const out = peer.out
    if (out !== null) {
      if (!out.open || out.socket.destroyed) return false
      const socket = out.socket
      socket.cork()
      socket.write(frameHeader(this.#channel(channel), payload.length))
      socket.write(payload)
      socket.uncork()
      this.bytes += payload.length
      return true
    }
    if (connect && peer.path !== null && !this.#closed && Date.now() >= peer.retryAt) this.#connect(peer, peer.path)
    return false
  }

  /** Bytes written to other workers and not taken by them yet. */
  get backlog (): number {
    let bytes = 0
    for (const peer of this.#peers.values()) if (peer.out?.open) bytes += peer.out.socket.writableLength
    return bytes
  }

  /** The workers with more than `bytes` waiting to be taken. */
  behind (bytes: number): string[] {
    const slow: string[] = []
    for (const peer of this.#peers.values()) if (peer.out?.open && peer.out.socket.writableLength > bytes) slow.push(peer.node)
    return slow
  }

  /** A `switch` came through the primary: everything `from` sent that way before the connection `gen` is in. */
  switchFrom (from: string, gen: string): void {
    this.#switched.set(from, gen)
    for (const inbound of this.#inbound) {
      if (inbound.from !== from || inbound.gen !== gen || inbound.open) continue
      inbound.open = true
      this.#read(inbound)
      inbound.socket.resume()
    }
  }

  close (): void {
    this.#closed = true
    this.#server?.close()
    this.#server = null
    for (const peer of this.#peers.values()) {
      const socket = peer.out?.socket
      if (!socket) continue
      socket.end()
      setTimeout(() => socket.destroy(), LAST_WRITES_MS).unref()
    }
    for (const inbound of this.#inbound) inbound.socket.destroy()
  }

  #channel (channel: string): Buffer {
    let encoded = this.#channels.get(channel)
    if (encoded === undefined) {
      encoded = Buffer.from(channel)
      this.#channels.set(channel, encoded)
    }
    return encoded
  }

  #connect (peer: Peer, path: string): void {
    const gen = `${process.pid}.${this.#nextGen++}`
    const socket = createConnection(path)
    const out: Outbound = { socket, gen, open: false }
    peer.out = out
    socket.on('connect', () => {
      if (peer.out !== out) return
      // Through the primary, behind everything sent that way so far; nothing goes that way to this peer from now on.
      if (!this.#owner.switched(peer.node, gen)) { socket.destroy(); return }
      const hello = Buffer.from(`${this.#node}\n${gen}`)
      socket.write(frameHeader(HELLO, hello.length))
      socket.write(hello)
      out.open = true
    })
    // Nothing comes back; reading lets the end of the peer's side close this one.
    socket.resume()
    socket.on('drain', () => this.#owner.drained())
    socket.on('error', (err) => this.#log.debug({ peer: peer.node, err: err.message }, 'workers: direct connection to another worker failed'))
    socket.on('close', () => {
      if (peer.out === out) {
        peer.out = null
        peer.retryAt = Date.now() + RETRY_MS
      }
      if (out.open) this.#owner.drained()
    })
  }

  #accept (socket: Socket): void {
    const inbound: Inbound = { socket, reader: new FrameReader(), from: null, gen: '', open: false }
    this.#inbound.add(inbound)
    socket.on('data', (chunk: Buffer) => {
      inbound.reader.push(chunk)
      this.#read(inbound)
    })
    socket.on('error', (err) => this.#log.debug({ peer: inbound.from, err: err.message }, 'workers: direct connection from another worker failed'))
    socket.on('close', () => this.#inbound.delete(inbound))
  }

  #read (inbound: Inbound): void {
    for (;;) {
      if (inbound.from !== null && !inbound.open) return
      let frame
      try {
        frame = inbound.reader.next()
      } catch (err) {
        this.#log.warning({ peer: inbound.from, err: (err as Error).message }, 'workers: a direct connection from another worker sent a broken frame; closed')
        inbound.socket.destroy()
        return
      }
      if (frame === null) return
      if (inbound.from === null) {
        this.#hello(inbound, frame.channel, frame.payload)
        continue
      }
      this.#owner.receive(frame.channel, frame.payload)
    }
  }

  #hello (inbound: Inbound, channel: string, payload: Buffer): void {
    const [from, gen] = payload.toString().split('\n')
    if (channel !== '' || !from || !gen) {
      this.#log.warning('workers: a direct connection did not start with its hello; closed')
      inbound.socket.destroy()
      inbound.from = ''
      return
    }
    inbound.from = from
    inbound.gen = gen
    inbound.open = this.#switched.get(from) === gen
    if (!inbound.open) inbound.socket.pause()
  }
}
