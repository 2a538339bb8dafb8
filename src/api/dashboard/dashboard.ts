// The dashboard's users, their login tokens and the brute-force lock, as the management API uses them.
import type { CulexConfig } from '../../config/schema.js'
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'
import { LoginLock, loggedName } from './login-lock.js'
import { Sessions } from './sessions.js'
import type { DashboardUsers, DashboardUserView } from './users.js'

export class Dashboard {
  readonly users: DashboardUsers
  readonly sessions: Sessions
  readonly lock: LoginLock
  readonly #log: Log

  constructor (users: DashboardUsers, config: CulexConfig['dashboard'], log: Log) {
    this.users = users
    this.#log = log
    this.sessions = new Sessions(config.token_expired_time, log)
    this.lock = new LoginLock({
      maxAttempts: config.unsuccessful_login_max_attempts,
      intervalMs: config.unsuccessful_login_interval,
      lockMs: config.unsuccessful_login_lock_duration,
    }, log)
  }

  /** A token for the user when the password is right; 401 BAD_USERNAME_OR_PWD or LOGIN_LOCKED otherwise. */
  async login (username: string, password: string, peer: string): Promise<{ token: string, user: DashboardUserView }> {
    if (this.lock.locked(username)) throw new CulexError('CULEX_ERR_API_LOGIN_LOCKED', 'Login locked: too many failed attempts for this user name; try again later')
    const user = await this.users.check(username, password)
    if (!user) {
      this.#log.info({ username: loggedName(username), peer }, 'dashboard login refused: no such user, or a wrong password')
      this.lock.failed(username, peer)
      throw new CulexError('CULEX_ERR_API_LOGIN_FAILED', 'Auth failed')
    }
    this.lock.reset(username)
    this.#log.info({ username, peer, role: user.role }, 'dashboard login')
    return { token: this.sessions.open(username, user.role, user.password_change_required), user }
  }

  /** Checks the old password (counted as a login attempt), then sets the new one and ends the user's sessions. */
  async changePassword (username: string, oldPassword: string, newPassword: string, peer: string): Promise<void> {
    if (this.lock.locked(username)) throw new CulexError('CULEX_ERR_API_LOGIN_LOCKED', 'Login locked: too many failed attempts for this user name; try again later')
    if (!this.users.get(username)) throw new CulexError('CULEX_ERR_API_USER_NOT_FOUND', `no dashboard user ${username}`)
    if (!await this.users.check(username, oldPassword)) {
      this.lock.failed(username, peer)
      throw new CulexError('CULEX_ERR_API_PASSWORD_MISMATCH', 'Old password not match')
    }
    await this.users.setPassword(username, newPassword)
    this.lock.reset(username)
    this.sessions.closeUser(username)
    this.#log.notice({ username, peer }, 'dashboard user password changed; the user\'s sessions are closed')
  }

  close (): void {
    this.sessions.stop()
  }
}
