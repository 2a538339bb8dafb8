// `mechanism = password_based, backend = redis` (EMQX's emqx_authn_redis): the user's hash read with
// HMGET (or HGET) and checked with password_hash_algorithm. Outcomes, as EMQX 5.8: no password → deny
// 0x86; no such key (every field nil) → ignore; a wrong password → deny 0x86; no password_hash field →
// deny 0x87; Redis unreachable or failing → ignore, logged once per cause.
import type { RedisAuthenticatorConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { AuthResult, ClientInfo, Credentials } from '../mqtt/hooks.js'
import { clientLookup } from './backends/placeholders.js'
import { parseCommand, RedisBackend, type RedisCommand } from './backends/redis.js'
import { authenticateSelected } from './selected.js'
import type { Authenticator } from './types.js'

export const REDIS_AUTHENTICATOR_ID = 'password_based:redis'

export class RedisAuthenticator implements Authenticator {
  readonly id = REDIS_AUTHENTICATOR_ID
  readonly #config: RedisAuthenticatorConfig
  readonly #command: RedisCommand
  readonly #fields: string[]
  readonly #backend: RedisBackend

  constructor (config: RedisAuthenticatorConfig, log: Log, where = REDIS_AUTHENTICATOR_ID) {
    this.#config = config
    this.#command = parseCommand(config.cmd, `${where}.cmd`)
    // The key is the first argument; the fields are constants (the schema checked them).
    this.#fields = this.#command.args.slice(1).map((t) => t.parts.join(''))
    const disallowed = this.#command.args.flatMap((a) => a.disallowed)
    if (disallowed.length > 0) log.warning({ authenticator: this.id, placeholders: disallowed }, `${where}.cmd: placeholders not available to authentication are sent as written`)
    this.#backend = new RedisBackend(config, log, where)
  }

  authenticate (client: ClientInfo, credentials: Credentials): Promise<AuthResult> {
    return authenticateSelected(this.#config.password_hash_algorithm, credentials.password, async (password) => {
      const reply = await this.#backend.run(this.#command, clientLookup(client, { password }))
      const values = Array.isArray(reply) ? reply : [reply]
      const selected: Record<string, unknown> = {}
      this.#fields.forEach((field, i) => { if (values[i] !== null && values[i] !== undefined) selected[field] = values[i] })
      return Object.keys(selected).length > 0 ? selected : undefined
    })
  }

  get failing (): boolean {
    return this.#backend.health.failing
  }

  close (): Promise<void> {
    return this.#backend.close()
  }
}
