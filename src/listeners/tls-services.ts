// What the broker shares with its TLS listeners.
import type { DeviceRegistry } from '../certs/registry.js'
import type { CertStore } from '../certs/store.js'
import type { PskTable } from './psk.js'
import type { PeerCheckFactory } from './tls-front.js'

export interface TlsServices {
  certStore?: CertStore | undefined
  psk?: PskTable | undefined
  /** Client-certificate checks each ssl listener builds from its ssl_options (CRL distribution points, device registry). */
  peerChecks?: PeerCheckFactory[]
  /** The device-certificate registry, for listeners with ssl_options.device_registry = true. */
  registry?: DeviceRegistry | undefined
}
