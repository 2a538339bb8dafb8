// Start-up of the dashboard users: the store is read, dashboard.bootstrap_users_file's users that are not
// there yet are added (`username:password` or `username:password:role` lines, # comments), and when no
// administrator exists, dashboard.default_username is created with dashboard.default_password.
import { readFile } from 'node:fs/promises'
import type { CulexConfig } from '../../config/schema.js'
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'
import { DASHBOARD_ROLES, DashboardUsers, type DashboardRole, type NewUser } from './users.js'

interface BootstrapLine extends NewUser { line: number }

/** Parses a bootstrap users file; throws CULEX_ERR_DASHBOARD_USERS naming file:line. */
export function parseBootstrapUsers (text: string, file: string): BootstrapLine[] {
  const users: BootstrapLine[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '' || line.startsWith('#')) continue
    const fail = (why: string) => new CulexError('CULEX_ERR_DASHBOARD_USERS', `dashboard.bootstrap_users_file ${file}:${i + 1}: ${why}`)
    const [username, password, role, ...rest] = line.split(':')
    if (rest.length > 0 || !username || !password) throw fail('expected username:password or username:password:role (a password cannot hold ":" in this file)')
    if (role !== undefined && !(DASHBOARD_ROLES as readonly string[]).includes(role)) throw fail(`role ${JSON.stringify(role)} is not one of ${DASHBOARD_ROLES.join(', ')}`)
    users.push({ line: i + 1, username, password, role: (role ?? 'administrator') as DashboardRole, description: '' })
  }
  return users
}

/** The dashboard users of node.data_dir, with the bootstrap file's and the default administrator added. */
export async function loadDashboardUsers (config: CulexConfig, log: Log): Promise<DashboardUsers> {
  const { default_username: name, default_password: password, bootstrap_users_file: file } = config.dashboard
  const users = new DashboardUsers(DashboardUsers.file(config.node.data_dir), password).load()
  if (file !== '') await importBootstrap(users, file, log)
  if (users.administrators() > 0) return users
  if (name === '' || password === '') {
    log.warning('no dashboard administrator, and dashboard.default_username or default_password is empty: nobody can log in to manage the dashboard users')
  } else if (users.get(name)) {
    log.warning({ username: name }, 'no dashboard administrator, and dashboard.default_username is a viewer: nobody can log in to manage the dashboard users')
  } else {
    await users.addDefault(name)
    log.notice({ username: name }, 'dashboard administrator created with dashboard.default_password; it must be changed at the first login')
  }
  return users
}

async function importBootstrap (users: DashboardUsers, file: string, log: Log): Promise<void> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new CulexError('CULEX_ERR_DASHBOARD_USERS', `dashboard.bootstrap_users_file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  let added = 0
  for (const user of parseBootstrapUsers(text, file)) {
    if (users.get(user.username)) continue
    try {
      await users.add(user)
      added++
    } catch (err) {
      throw new CulexError('CULEX_ERR_DASHBOARD_USERS', `dashboard.bootstrap_users_file ${file}:${user.line}: ${(err as Error).message}`, { cause: err })
    }
  }
  log.notice({ file, added }, `dashboard.bootstrap_users_file: ${added} user${added === 1 ? '' : 's'} added`)
}
