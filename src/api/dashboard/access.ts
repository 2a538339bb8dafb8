// What a dashboard token may reach. An administrator's: everything. A viewer's: what only reads, plus logging
// out and changing its own password (as EMQX's RBAC). While the user still has the default password, any
// role's token reaches only POST /api/v5/logout, POST /api/v5/users/<itself>/change_pwd and
// GET /api/v5/users/<itself>.
import { CulexError } from '../../errors.js'
import { READ_METHODS } from '../common.js'
import type { Session } from './sessions.js'

export const LOGOUT_ROUTE = '/api/v5/logout'
export const USER_ROUTE = '/api/v5/users/:username'
export const CHANGE_PWD_ROUTE = '/api/v5/users/:username/change_pwd'

/** The request as the check needs it: its method, the route it matched (its pattern), and the path's parameters. */
export interface RoutedRequest { method: string, route: string | undefined, params: unknown }

/** Throws a 403 CulexError unless the session may make the request. */
export function checkSessionAccess (session: Session, request: RoutedRequest): void {
  const { method, route } = request
  const self = (request.params as { username?: unknown } | undefined)?.username === session.username
  const own = (method === 'POST' && route === LOGOUT_ROUTE) || (method === 'POST' && route === CHANGE_PWD_ROUTE && self)
  if (session.passwordChangeRequired) {
    if (own || (method === 'GET' && route === USER_ROUTE && self)) return
    throw new CulexError('CULEX_ERR_API_PASSWORD_CHANGE_REQUIRED', `user ${session.username} still has the default password: change it first (POST /api/v5/users/${session.username}/change_pwd), then log in again`)
  }
  if (session.role === 'administrator' || READ_METHODS.has(method) || own) return
  throw new CulexError('CULEX_ERR_API_ROLE', `the viewer role may not ${method} this resource`)
}

/** The token of an `Authorization: Bearer <token>` header, else undefined. */
export function bearerToken (header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  return m?.[1]
}
