// How a listening server turns an accepted connection into a net.Socket. Replaces net.Server's own accept
// callback (net.js onconnection, the listening handle's `onconnection`) with one that does what it does,
// because Node 20's costs a third of a plain connection's instructions for nothing:
// net.Socket clones its options and then adds emitClose, autoDestroy and decodeStrings to the clone, and
// V8 11 gives a clone extended that way a new hidden class every time. Every one of the ~27 reads of those
// options while the socket and its stream states are built then misses V8's inline caches and is looked up
// again, about 40,000 instructions per connection (callgrind, Culex's main thread and a bare Node server
// alike). Options that already hold the three are not extended, keep one hidden class, and the reads hit.
// test/listeners/accept.test.ts fails if a Node release changes what this relies on.
import { channel } from 'node:diagnostics_channel'
import { Socket, type Server } from 'node:net'
import { systemError } from '../errors.js'

interface ListenHandle { onconnection: (err: number, clientHandle: SocketHandle) => void }
interface SocketHandle { close: () => void }

/** What net.Server keeps of its options (Node 20), and the count net.Socket decrements when it closes. */
interface ServerState {
  _handle: ListenHandle | null
  _connections: number
  allowHalfOpen: boolean
  pauseOnConnect: boolean
  highWaterMark: number
  noDelay: boolean
  keepAlive: boolean
  /** In seconds. */
  keepAliveInitialDelay: number
  maxConnections: number | undefined
}

const serverSocketChannel = channel('net.server.socket')

/**
 * Accepts `server`'s connections as described above, once it listens. `acceptFailed` gets accept()'s errors
 * (EMFILE when out of file descriptors), which net.Server would emit as 'error' and, unheard, crash on.
 * Returns false, leaving Node's own callback, when the server does not look as this expects.
 */
export function acceptQuickly (server: Server, acceptFailed: (err: NodeJS.ErrnoException) => void): boolean {
  const state = server as unknown as ServerState
  const handle = state._handle
  if (handle === null || typeof handle.onconnection !== 'function' || typeof state._connections !== 'number' ||
    typeof state.highWaterMark !== 'number') return false
  handle.onconnection = (err: number, clientHandle: SocketHandle): void => {
    if (err !== 0) {
      acceptFailed(systemError(err, 'accept'))
      return
    }
    if (state.maxConnections !== undefined && state.maxConnections > 0 && state._connections >= state.maxConnections) {
      server.emit('drop')
      clientHandle.close()
      return
    }
    const socket = new Socket({
      handle: clientHandle,
      allowHalfOpen: state.allowHalfOpen,
      pauseOnCreate: state.pauseOnConnect,
      readable: true,
      writable: true,
      readableHighWaterMark: state.highWaterMark,
      writableHighWaterMark: state.highWaterMark,
      // What net.Socket would otherwise add to its copy (see above), with the values it adds.
      emitClose: false,
      autoDestroy: true,
      decodeStrings: false,
    } as ConstructorParameters<typeof Socket>[0])
    if (state.noDelay) socket.setNoDelay(true)
    if (state.keepAlive) socket.setKeepAlive(true, state.keepAliveInitialDelay * 1000)
    state._connections++
    const accepted = socket as Socket & { server: Server, _server: Server }
    accepted.server = server
    // net.Socket counts itself out of _connections through _server when it closes (server.close() waits for it).
    accepted._server = server
    server.emit('connection', socket)
    if (serverSocketChannel.hasSubscribers) serverSocketChannel.publish({ socket })
  }
  return true
}
