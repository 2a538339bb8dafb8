// Reads of a connection's socket. Reaches into Node's internals (net.Socket's onread symbols) because
// Node 20 has no public API for it; test/mqtt/socket-reads.test.ts fails if a Node release changes them.
import { Socket as NetSocket } from 'node:net'
import type { Duplex } from 'node:stream'
import { TLSSocket } from 'node:tls'

// net.Socket's `onread` option (a buffer libuv reads into and a callback per read) skips the Readable
// stream: no push, no 'data' emit, no read(0) scheduled on the next tick after every read. On a socket
// that reads one small packet per wake-up, that stream machinery is a third of Node's user-space cost per
// packet (bench/peers/node-floor.mjs, measured both ways). Node offers `onread` only to sockets it
// creates for us (net.connect), not to those a net.Server accepts, so it is set here the way the Socket
// constructor sets it: its three symbols, then the handle's useUserBuffer().
const probe = new NetSocket({ onread: { buffer: Buffer.alloc(1), callback: () => true } } as ConstructorParameters<typeof NetSocket>[0])
const symbols = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]))
const kBuffer = symbols.get('kBuffer')
const kBufferCb = symbols.get('kBufferCb')
const kBufferGen = symbols.get('kBufferGen')
probe.destroy()

/** What libuv reads into, for every socket of the process: each read is copied out before anything else sees it. */
let readBuffer: Buffer | null = null
const READ_BUFFER_BYTES = 64 * 1024
/** Reads up to this size are copied into Node's Buffer pool, larger ones into memory of their own. */
const POOLED_READ_BYTES = 1024

interface HandleWithUserBuffer { useUserBuffer?: (buf: Uint8Array) => void }

/** Who gets a shared-buffer socket's reads: a field of the socket, so that a later onReads can take them over. */
const kReader = Symbol('culex.reader')

/** Who gets a socket's reads: an object with a method, so that a connection passes itself (no closure each). */
export interface ReadSink { chunkRead (chunk: Buffer): void }

type Fields = Record<symbol, unknown>

/**
 * Hands `sink` each read of `socket`, in a Buffer no later read overwrites. A plain socket accepted by a
 * net.Server reads into one shared buffer (see above); any other stream (TLS, WebSocket, a socket with
 * bytes already in its Readable buffer) uses 'data'. pause() and resume() work either way.
 * Called again on a socket that reads through the shared buffer (after a PROXY protocol header), the new
 * `sink` gets the reads from then on. Returns whether the socket reads through the shared buffer.
 */
export function onReads (socket: Duplex, sink: ReadSink): boolean {
  const fields = socket as unknown as Fields
  if (readBuffer !== null && fields[kBuffer!] === readBuffer) {
    fields[kReader] = sink
    return true
  }
  const handle = (socket as { _handle?: HandleWithUserBuffer | null })._handle
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined || !isPlainSocket(socket) ||
    typeof handle?.useUserBuffer !== 'function' || socket.readableLength > 0 || socket.listenerCount('data') > 0) {
    socket.on('data', (chunk: Buffer) => sink.chunkRead(chunk))
    return false
  }
  readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES)
  fields[kReader] = sink
  fields[kBuffer] = readBuffer
  fields[kBufferGen] = null
  fields[kBufferCb] = copyRead
  handle.useUserBuffer(readBuffer)
  return true
}

/** A TCP socket without TLS over it. */
export function isPlainSocket (socket: Duplex): socket is NetSocket {
  return socket instanceof NetSocket && !(socket instanceof TLSSocket)
}

/**
 * Hands `chunk` to the reader of a socket that reads through the shared buffer, as if it had just been read:
 * the bytes that came with a PROXY protocol header, for whoever reads after it.
 */
export function passOn (socket: Duplex, chunk: Buffer): void {
  ;((socket as unknown as Fields)[kReader] as ReadSink).chunkRead(chunk)
}

/** net.Socket calls it as its own method (`this` is the socket) with each read in the shared buffer. */
function copyRead (this: Fields, nread: number, buf: Buffer): void {
  // A small read (a packet or two, as at light load) goes into Node's Buffer pool: no ArrayBuffer of its
  // own, which a scavenge would have to sweep (a 'data' chunk has one per read). A larger one gets memory
  // of exactly its size, as a 'data' chunk has: the messages a client sends in bulk are the ones that
  // get queued, and a queued message copies out a payload whose memory is much larger than itself
  // (mqtt/memory.ts ownPayload), which a pool's 8 KiB always is.
  const chunk = nread <= POOLED_READ_BYTES ? Buffer.allocUnsafe(nread) : Buffer.allocUnsafeSlow(nread)
  buf.copy(chunk, 0, 0, nread)
  ;(this[kReader] as ReadSink).chunkRead(chunk)
}
