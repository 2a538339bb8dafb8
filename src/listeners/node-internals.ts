// The places Culex reaches into Node's TLS internals, because Node 20 has no public API for them.
// test/listeners/node-internals.test.ts fails if a Node release changes either.
import type { Socket } from 'node:net'
import { createSecureContext, type Server as TlsServer, type TlsOptions } from 'node:tls'

/**
 * The raw socket accept() saw under a server-side TLSSocket (Node keeps it as `_parent`). Needed because a
 * TLSSocket that failed its handshake may no longer tell its peer's address; the raw socket is our key to it.
 */
export function acceptedSocket (socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket
}

/** Bytes the client sent on the raw socket under a server-side TLSSocket (for a handshake that timed out). */
export function rawBytesRead (socket: Socket): number {
  return acceptedSocket(socket).bytesRead
}

/**
 * tls.Server#setSecureContext, keeping `allowPartialTrustChain`: Node 20's setSecureContext builds its context
 * (`_sharedCreds`) from a fixed list of options that leaves it out, so the context is replaced with one built
 * from all of them.
 */
export function setSecureContextWithPartialChain (server: TlsServer, options: TlsOptions): void {
  server.setSecureContext(options)
  if ((options as { allowPartialTrustChain?: boolean }).allowPartialTrustChain) {
    (server as TlsServer & { _sharedCreds: unknown })._sharedCreds = createSecureContext(options)
  }
}
