// `mechanism = password_based, backend = postgresql` (EMQX's emqx_authn_postgresql): the user's row
// selected with `query` (placeholders bound as parameters) and checked with password_hash_algorithm.
// Outcomes, as EMQX 5.8: no password → deny 0x86; no row → ignore; a wrong password → deny 0x86; a row
// without password_hash → deny 0x87; the database unreachable or failing → ignore, logged once per cause.
import type { PostgresAuthenticatorConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { AuthResult, ClientInfo, Credentials } from '../mqtt/hooks.js'
import { clientLookup } from './backends/placeholders.js'
import { PostgresBackend, prepareQuery, type PreparedQuery } from './backends/postgres.js'
import { authenticateSelected } from './selected.js'
import type { Authenticator } from './types.js'

export const POSTGRES_AUTHENTICATOR_ID = 'password_based:postgresql'

export class PostgresAuthenticator implements Authenticator {
  readonly id = POSTGRES_AUTHENTICATOR_ID
  readonly #config: PostgresAuthenticatorConfig
  readonly #query: PreparedQuery
  readonly #backend: PostgresBackend

  constructor (config: PostgresAuthenticatorConfig, log: Log, where = POSTGRES_AUTHENTICATOR_ID) {
    this.#config = config
    this.#query = prepareQuery(config.query)
    if (this.#query.disallowed.length > 0) log.warning({ authenticator: this.id, placeholders: this.#query.disallowed }, `${where}.query: placeholders not available to authentication are left in the SQL as written`)
    this.#backend = new PostgresBackend(config, log, where)
  }

  authenticate (client: ClientInfo, credentials: Credentials): Promise<AuthResult> {
    return authenticateSelected(this.#config.password_hash_algorithm, credentials.password, async (password) => {
      const row = (await this.#backend.query(this.#query, clientLookup(client, { password })))[0]
      return row && Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null && v !== undefined))
    })
  }

  get failing (): boolean {
    return this.#backend.health.failing
  }

  close (): Promise<void> {
    return this.#backend.close()
  }
}
