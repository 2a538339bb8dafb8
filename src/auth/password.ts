// `mechanism = password_based, backend = built_in_database` (EMQX's emqx_authn_mnesia): users with a
// hashed password in the broker's data dir, managed through /api/v5/authentication/{id}/users.
// Outcomes, as EMQX 5: no password → deny, whoever the client is; an unknown user id → ignore; a wrong
// password → deny; both denials are 0x86 Bad User Name or Password (v3: 4); the right password → ok
// with the user's is_superuser.
// SCRAM (enhanced authentication with AUTH packets) is src/auth/scram.ts.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { passwordAuthenticator, type PasswordAuthenticatorConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { AuthResult, ClientInfo, Credentials } from '../mqtt/hooks.js'
import { RC } from '../mqtt/reason-codes.js'
import { checkPassword, hashPassword } from './hash.js'
import type { Authenticator } from './types.js'
import { parseBootstrap, UserStore, type UserRecord } from './users.js'

export const PASSWORD_AUTHENTICATOR_ID = 'password_based:built_in_database'

export interface PasswordAuthenticatorOptions {
  /** node.data_dir: users are kept in <dataDir>/authn/<id>.json. */
  dataDir: string
  log: Log
}

/** What the API shows of a user: never the hash or the salt. */
export interface UserInfo { user_id: string, is_superuser: boolean }

const BAD_PASSWORD: AuthResult = { result: 'deny', reasonCode: RC.BAD_USER_NAME_OR_PASSWORD, reason: 'bad username or password' }

export class PasswordAuthenticator implements Authenticator {
  readonly id = PASSWORD_AUTHENTICATOR_ID
  readonly config: PasswordAuthenticatorConfig
  readonly users: UserStore
  readonly #log: Log
  /** The bootstrap import; lookups wait for it. */
  readonly ready: Promise<void>

  /** `config` is one `authentication` entry, parsed or as written (EMQX keys). */
  constructor (config: PasswordAuthenticatorConfig | Record<string, unknown>, opts: PasswordAuthenticatorOptions) {
    this.config = passwordAuthenticator.parse(config)
    this.#log = opts.log
    // The colon of the id is not welcome in every file system.
    this.users = new UserStore(join(opts.dataDir, 'authn', `${this.id.replace(':', '-')}.json`)).load()
    this.ready = this.users.size === 0 && this.config.bootstrap_file !== '' ? this.#bootstrap() : Promise.resolve()
  }

  async authenticate (client: ClientInfo, credentials: Credentials): Promise<AuthResult> {
    // As EMQX (emqx_authn_mnesia): no password is refused before the user is looked up.
    if (credentials.password === undefined) return BAD_PASSWORD
    await this.ready
    const userId = this.config.user_id_type === 'clientid' ? client.clientId : client.username
    const user = userId === undefined ? undefined : this.users.get(userId)
    if (!user) return { result: 'ignore', reason: `no such user (${this.config.user_id_type === 'clientid' ? 'client id' : 'user name'})` }
    const ok = await checkPassword(this.config.password_hash_algorithm, user.salt, user.password_hash, credentials.password)
    return ok ? { result: 'ok', isSuperuser: user.is_superuser } : BAD_PASSWORD
  }

  /** Waits for the bootstrap import and the last write of the user file. */
  async close (): Promise<void> {
    await this.ready
    await this.users.flushed()
  }

  // ---- user management (the API) ----

  list (): UserInfo[] {
    return this.users.list().map(show)
  }

  get (userId: string): UserInfo | undefined {
    const user = this.users.get(userId)
    return user && show(user)
  }

  /** Adds a user; false when the id is taken. */
  async add (userId: string, password: string, isSuperuser = false): Promise<UserInfo | undefined> {
    await this.ready
    if (this.users.get(userId)) return undefined
    const user = await this.#record(userId, password, isSuperuser)
    // Another add of the same id may have finished while this one hashed.
    if (this.users.get(userId)) return undefined
    await this.users.put(user)
    return show(user)
  }

  /** Changes a user's password and/or is_superuser; undefined when there is no such user. */
  async update (userId: string, change: { password?: string, is_superuser?: boolean }): Promise<UserInfo | undefined> {
    await this.ready
    const old = this.users.get(userId)
    if (!old) return undefined
    const user = change.password === undefined ? { ...old } : await this.#record(userId, change.password, old.is_superuser)
    if (change.is_superuser !== undefined) user.is_superuser = change.is_superuser
    await this.users.put(user)
    return show(user)
  }

  async delete (userId: string): Promise<boolean> {
    await this.ready
    return this.users.delete(userId)
  }

  async #record (userId: string, password: string, isSuperuser: boolean): Promise<UserRecord> {
    const { passwordHash, salt } = await hashPassword(this.config.password_hash_algorithm, password)
    return { user_id: userId, password_hash: passwordHash, salt, is_superuser: isSuperuser }
  }

  /** As EMQX: a missing or bad bootstrap file is a warning, not a failed start. */
  async #bootstrap (): Promise<void> {
    const file = this.config.bootstrap_file
    try {
      const entries = parseBootstrap(file, await readFile(file, 'utf8'), this.config.bootstrap_type)
      for (const e of entries) {
        if (this.users.get(e.user_id)) continue
        const user = e.password !== undefined
          ? await this.#record(e.user_id, e.password, e.is_superuser)
          : { user_id: e.user_id, password_hash: e.password_hash!, salt: e.salt ?? '', is_superuser: e.is_superuser }
        if (!this.users.get(user.user_id)) this.users.set(user)
      }
      await this.users.save()
      this.#log.info({ authenticator: this.id, file, users: entries.length }, 'authentication users imported from the bootstrap file')
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
      this.#log.warning({ authenticator: this.id, file, type: this.config.bootstrap_type }, `authentication bootstrap_file not imported: ${why}`)
    }
  }
}

const show = (u: UserRecord): UserInfo => ({ user_id: u.user_id, is_superuser: u.is_superuser })
