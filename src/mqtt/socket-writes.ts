// Writes of a connection's plain TCP socket. Reaches into Node's internals (the TCP handle's writeBuffer
// and the WriteWrap it takes) because Node has no public API for a write without the Writable stream;
// test/mqtt/socket-writes.test.ts fails if a Node release changes them.
import { Socket as NetSocket } from 'node:net'
import type { Duplex } from 'node:stream'
import { systemError } from '../errors.js'
import { isPlainSocket } from './socket-reads.js'

// At light load every delivery is one write of one buffer, and socket.write() runs the Writable stream's
// bookkeeping around the handle's writeBuffer: its state, a callback, an afterWrite on the next tick. Going
// to the handle directly when the stream holds nothing saves about 3 µs per write on the bench machine
// (bench/peers/node-floor.mjs measured both ways, 1,000 msg/s: 46/52/47 → 43/48/45 µs per message). Once
// the stream or the kernel holds bytes, writes go through socket.write(): libuv keeps its writes in order,
// whichever way they came.

/** The request object a stream handle's writeBuffer takes; its oncomplete is called if the write finishes later. */
interface DirectWrite {
  handle: StreamHandle
  oncomplete: (this: DirectWrite, status: number) => void
  socket: NetSocket
  /** Bytes libuv queued because the kernel did not take them at once. */
  queued: number
  /** Kept alive until the queued bytes are sent: libuv writes from this memory. */
  buffer: Buffer | null
}

interface StreamHandle {
  writeBuffer (req: DirectWrite, data: Buffer): number
  readonly writeQueueSize: number
}

type WithHandle = NetSocket & { _handle: StreamHandle | null, [kQueued]?: number }

/** Bytes of direct writes still in libuv's queue (set on a socket once one is). */
const kQueued = Symbol('culex.directWriteQueued')

const WriteWrap = probeWriteWrap()

/**
 * The WriteWrap constructor, found by letting a net.Socket write once to a handle of our own (Node reaches
 * it only through the deprecated process.binding). null if that no longer works: then every write goes
 * through socket.write().
 */
function probeWriteWrap (): (new () => DirectWrite) | null {
  let found: unknown = null
  const handle = {
    readStart: () => 0,
    readStop: () => 0,
    close: (done?: () => void) => done?.(),
    getAsyncId: () => -1,
    writeBuffer (req: object): number { found = req.constructor; return 0 },
  }
  try {
    const probe = new NetSocket({ handle, readable: false } as ConstructorParameters<typeof NetSocket>[0])
    probe.write(Buffer.alloc(1))
    probe.destroy()
  } catch {
    return null
  }
  return typeof found === 'function' && found.name === 'WriteWrap' ? found as new () => DirectWrite : null
}

/**
 * `socket` if writeDirect can bypass its stream (a plain TCP socket; not TLS, not WebSocket), made ready
 * for it; null otherwise.
 */
export function directWrites (socket: Duplex): NetSocket | null {
  if (WriteWrap === null || !isPlainSocket(socket) || typeof (socket as WithHandle)._handle?.writeBuffer !== 'function') return null
  ;(socket as WithHandle)[kQueued] = 0
  return socket
}

/** Writes `data` to a socket from directWrites: to its handle when nothing is queued before it, else through socket.write(). */
export function writeDirect (socket: NetSocket, data: Buffer): void {
  const handle = (socket as WithHandle)._handle
  if (handle === null || socket.writableLength > 0 || socket.writableEnded || (socket as WithHandle)[kQueued]! > 0) {
    socket.write(data)
    return
  }
  const req = new WriteWrap!()
  req.handle = handle
  req.oncomplete = afterQueuedWrite
  req.socket = socket
  req.queued = 0
  req.buffer = null
  const err = handle.writeBuffer(req, data)
  if (err !== 0) {
    socket.destroy(systemError(err, 'write'))
    return
  }
  // Nothing was queued before (the stream holds nothing, and its own writes stay in writableLength until
  // they complete): whatever libuv holds now is this write's.
  const queued = handle.writeQueueSize
  if (queued > 0) {
    req.queued = queued
    req.buffer = data
    ;(socket as WithHandle)[kQueued]! += queued
  }
}

/** Bytes written to `socket` that the kernel has not taken yet, however they were written. */
export function unsentBytes (socket: Duplex): number {
  return socket.writableLength + ((socket as WithHandle)[kQueued] ?? 0)
}

function afterQueuedWrite (this: DirectWrite, status: number): void {
  const socket = this.socket as WithHandle
  socket[kQueued]! -= this.queued
  this.buffer = null
  if (status < 0 && !socket.destroyed) socket.destroy(systemError(status, 'write'))
}
