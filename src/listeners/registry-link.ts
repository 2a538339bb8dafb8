// An ssl listener with ssl_options.device_registry = true: the registry's CAs are trusted in the handshake
// (a registration needs no restart), every verified client certificate must then pass the registry's check
// (so a CA only in cacertfile admits nobody: seed 001), and the clients of a deactivated device or CA are
// disconnected.
import type { DeviceRecord, DeviceRegistry } from '../certs/registry.js'
import type { SslListenerOptions } from '../config/schema.js'
import { CulexError } from '../errors.js'
import { RC } from '../mqtt/reason-codes.js'
import type { TlsFront } from './tls-front.js'
import type { ListenerCore } from './listener-core.js'

/** Refuses, at start, a device_registry listener that cannot work. */
export function checkRegistryOptions (listenerId: string, opts: SslListenerOptions, registry: DeviceRegistry | undefined): void {
  if (!opts.device_registry) return
  const fail = (detail: string): never => { throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${listenerId}: ssl_options.device_registry: ${detail}`) }
  if (opts.verify !== 'verify_peer') fail('needs verify = verify_peer (devices authenticate with their certificates)')
  if (opts.managed_certs.length > 0) fail('works with certfile/keyfile, not with managed_certs')
  if (!registry) fail('the broker has no device registry')
}

/** Links the listener's TLS front to the registry; returns the unlink function. */
export function linkRegistry (core: ListenerCore, listenerId: string, front: TlsFront, registry: DeviceRegistry): () => void {
  front.addPeerCheck((cert, socket) => registry.admit(cert, socket.getPeerX509Certificate()))
  const onCa = (serial: string) => { front.reload(`device registry: CA ${serial} changed`) }
  // By fingerprint: a serial names a device only together with its CA.
  const onRevoke = (devices: DeviceRecord[], why: string) => {
    const revoked = new Set(devices.map((d) => d.fingerprint))
    let dropped = 0
    for (const conn of [...core.connections]) {
      const fingerprint = conn.transport.tls?.peerCert?.fingerprint
      if (conn.listener.id !== listenerId || fingerprint === undefined || !revoked.has(fingerprint)) continue
      conn.disconnect(RC.ADMINISTRATIVE_ACTION, why)
      dropped++
    }
    if (dropped > 0) core.log.notice({ listener: listenerId, dropped }, `device clients disconnected: ${why}`)
  }
  registry.on('ca', onCa)
  registry.on('revoke', onRevoke)
  return () => {
    registry.off('ca', onCa)
    registry.off('revoke', onRevoke)
  }
}
