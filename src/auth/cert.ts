// `mechanism = cert`: a client that presented a certificate the TLS listener verified is authenticated
// by it (peer_cert_as_username has already set its user name); anyone else is passed to the next authenticator.
import type { AuthResult, ClientInfo } from '../mqtt/hooks.js'
import type { Authenticator } from './types.js'

export class CertAuthenticator implements Authenticator {
  readonly id = 'cert'

  authenticate (client: ClientInfo): AuthResult {
    return client.cert ? { result: 'ok' } : { result: 'ignore', reason: 'no client certificate' }
  }
}
