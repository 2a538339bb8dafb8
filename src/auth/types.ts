// What every authenticator is: EMQX's plug-in shape. The chain asks each in order; ok or deny decides,
// ignore passes to the next.
import type { AuthResult, ClientInfo, Credentials, EnhancedAuthExchange } from '../mqtt/hooks.js'

export interface Authenticator {
  /** EMQX's id: `<mechanism>:<backend>`, e.g. `jwt`, `password_based:built_in_database`. */
  readonly id: string
  authenticate (client: ClientInfo, credentials: Credentials): AuthResult | Promise<AuthResult>
  /** MQTT 5 enhanced authentication: an exchange when this authenticator serves `method` (e.g. SCRAM-SHA-256). */
  enhanced? (method: string, client: ClientInfo): EnhancedAuthExchange | undefined
  /** True while its backend's last request failed (the status endpoint's disconnected). */
  readonly failing?: boolean
  /** Stops timers and fetches (JWKS refresh, ...). */
  close? (): void | Promise<void>
}
