// Dashboard users (EMQX's /api/v5/users): kept in node.data_dir/dashboard/users.json, written whole and
// atomically (mode 0600) after each change, as the built-in authentication database is. Passwords are scrypt
// hashes. The first administrator is dashboard.default_username; until its password is changed it has no hash
// of its own: its password is dashboard.default_password, and it must change it (password_change_required).
import { join } from 'node:path'
import { UserStore } from '../../auth/users.js'
import { CulexError } from '../../errors.js'
import { sameSecret } from '../auth.js'
import { decoyHash, hashPassword, verifyPassword, type PasswordHash } from './hash.js'
import { badPassword, badUsername } from './rules.js'

export const DASHBOARD_ROLES = ['administrator', 'viewer'] as const
export type DashboardRole = (typeof DASHBOARD_ROLES)[number]

/** One user as stored. `user_id` is the user name. No hash while the user still has the default password. */
export interface StoredDashboardUser extends Partial<PasswordHash> {
  user_id: string
  role: DashboardRole
  description: string
  password_change_required?: boolean
}

/** A user as the API shows it (EMQX's fields, and Culex's password_change_required). */
export interface DashboardUserView { username: string, role: DashboardRole, description: string, backend: 'local', password_change_required: boolean }

export interface NewUser { username: string, password: string, role: DashboardRole, description: string }

const bad = (message: string) => new CulexError('CULEX_ERR_API_BAD_REQUEST', message)

export class DashboardUsers {
  readonly #store: UserStore<StoredDashboardUser>
  readonly #defaultPassword: string

  constructor (file: string, defaultPassword: string) {
    this.#store = new UserStore<StoredDashboardUser>(file)
    this.#defaultPassword = defaultPassword
  }

  /** node.data_dir/dashboard/users.json */
  static file (dataDir: string): string {
    return join(dataDir, 'dashboard', 'users.json')
  }

  /** Reads the file; an unreadable or corrupt one is a CULEX_ERR_DASHBOARD_USERS. */
  load (): this {
    try {
      this.#store.load()
    } catch (err) {
      throw new CulexError('CULEX_ERR_DASHBOARD_USERS', `dashboard users ${this.#store.file}: ${(err as Error).message}`, { cause: err })
    }
    return this
  }

  get size (): number { return this.#store.size }

  get (username: string): DashboardUserView | undefined {
    const user = this.#store.get(username)
    return user && view(user)
  }

  list (): DashboardUserView[] {
    return this.#store.list().map(view)
  }

  administrators (): number {
    return this.#store.list().filter((u) => u.role === 'administrator').length
  }

  /** Adds a user after checking EMQX's rules; 400 when it breaks one or exists already. */
  async add (user: NewUser): Promise<DashboardUserView> {
    const why = badUsername(user.username) ?? badPassword(user.password)
    if (why) throw bad(why)
    if (this.#store.get(user.username)) throw bad(`user ${user.username} already exists`)
    const stored: StoredDashboardUser = { user_id: user.username, role: user.role, description: user.description, ...await hashPassword(user.password) }
    // Checked again: another request may have added the name while this one hashed.
    if (this.#store.get(user.username)) throw bad(`user ${user.username} already exists`)
    await this.#store.put(stored)
    return view(stored)
  }

  /** The first administrator, with the default password (no rules: the operator chose it, and must change it). */
  async addDefault (username: string): Promise<void> {
    await this.#store.put({ user_id: username, role: 'administrator', description: 'administrator', password_change_required: true })
  }

  async update (username: string, change: { role?: DashboardRole | undefined, description?: string | undefined }): Promise<DashboardUserView> {
    const user = this.#require(username)
    const updated = { ...user, role: change.role ?? user.role, description: change.description ?? user.description }
    await this.#store.put(updated)
    return view(updated)
  }

  async remove (username: string): Promise<void> {
    this.#require(username)
    await this.#store.delete(username)
  }

  /** The user when the password is theirs; a miss costs a hash too, so timing does not tell which names exist. */
  async check (username: string, password: string): Promise<DashboardUserView | undefined> {
    const user = this.#store.get(username)
    if (!user) {
      await verifyPassword(await decoyHash(), password)
      return undefined
    }
    return (await this.#matches(user, password)) ? view(user) : undefined
  }

  /** Sets a new password after the rules; the default password, and the current one, cannot be kept. */
  async setPassword (username: string, password: string): Promise<void> {
    const user = this.#require(username)
    const why = badPassword(password)
    if (why) throw bad(why)
    if (sameSecret(password, this.#defaultPassword)) throw bad('bad password: the default password (dashboard.default_password) cannot be used')
    if (await this.#matches(user, password)) throw bad('bad password: the new password is the current one')
    const { password_change_required: _, ...rest } = user
    await this.#store.put({ ...rest, ...await hashPassword(password) })
  }

  #require (username: string): StoredDashboardUser {
    const user = this.#store.get(username)
    if (!user) throw new CulexError('CULEX_ERR_API_USER_NOT_FOUND', `no dashboard user ${username}`)
    return user
  }

  #matches (user: StoredDashboardUser, password: string): Promise<boolean> {
    if (user.password_hash === undefined || user.salt === undefined || user.kdf === undefined) {
      return Promise.resolve(user.password_change_required === true && sameSecret(password, this.#defaultPassword))
    }
    return verifyPassword({ password_hash: user.password_hash, salt: user.salt, kdf: user.kdf }, password)
  }
}

function view (user: StoredDashboardUser): DashboardUserView {
  return { username: user.user_id, role: user.role, description: user.description, backend: 'local', password_change_required: user.password_change_required === true }
}
