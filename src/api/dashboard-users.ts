// /api/v5/users: EMQX's dashboard user management (administrators), and change_pwd, which every user may call
// for itself. GET /api/v5/users/{username} is Culex's: one user, readable by a token that must still change
// its password. The last administrator cannot be deleted or made a viewer, nor can a user delete itself.
import type { FastifyPluginAsync } from 'fastify'
import { CulexError } from '../errors.js'
import { peerOf } from '../listeners/index.js'
import { errors, NO_CONTENT, type ApiHost } from './common.js'
import { CHANGE_PWD_ROUTE, USER_ROUTE } from './dashboard/access.js'
import type { Dashboard } from './dashboard/dashboard.js'
import { DASHBOARD_ROLES, type DashboardRole } from './dashboard/users.js'

const userSchema = {
  type: 'object',
  properties: {
    username: { type: 'string' },
    role: { type: 'string', enum: [...DASHBOARD_ROLES] },
    description: { type: 'string' },
    backend: { type: 'string', enum: ['local'] },
  },
} as const

const usernameParam = { type: 'object', properties: { username: { type: 'string' } }, required: ['username'] } as const
const role = { type: 'string', enum: [...DASHBOARD_ROLES] } as const

interface Params { username: string }

export const dashboardUserRoutes: FastifyPluginAsync<{ host: ApiHost, dashboard: Dashboard }> = async (app, { host, dashboard }) => {
  const tags = ['Dashboard']
  const { users, sessions } = dashboard
  /** The user making the request (null: an API key, or no credentials without keys). */
  const actor = (user: string | null) => ({ by: user ?? '(API without keys)' })

  app.get('/api/v5/users', {
    schema: { tags, summary: 'Dashboard users', response: { 200: { type: 'array', items: userSchema } } },
  }, async () => users.list())

  app.post<{ Body: { username: string, password: string, role?: DashboardRole, description?: string } }>('/api/v5/users', {
    schema: {
      tags,
      summary: 'Add a dashboard user',
      body: {
        type: 'object',
        required: ['username', 'password'],
        properties: { username: { type: 'string', maxLength: 100 }, password: { type: 'string', maxLength: 100 }, role: { ...role, default: 'administrator' }, description: { type: 'string', maxLength: 1000, default: '' } },
      },
      response: { 200: userSchema, ...errors(400) },
    },
  }, async (request) => {
    const { username, password, role = 'administrator', description = '' } = request.body
    const user = await users.add({ username, password, role, description })
    host.log.notice({ username, role, ...actor(request.dashboardUser) }, 'dashboard user added')
    return user
  })

  app.get<{ Params: Params }>(USER_ROUTE, {
    schema: {
      tags,
      summary: 'One dashboard user (Culex)',
      params: usernameParam,
      response: { 200: { ...userSchema, properties: { ...userSchema.properties, password_change_required: { type: 'boolean' } } }, ...errors(404) },
    },
  }, async (request) => {
    const user = users.get(request.params.username)
    if (!user) throw new CulexError('CULEX_ERR_API_USER_NOT_FOUND', `no dashboard user ${request.params.username}`)
    return user
  })

  app.put<{ Params: Params, Body: { role?: DashboardRole, description?: string } }>(USER_ROUTE, {
    schema: {
      tags,
      summary: 'Change a dashboard user\'s role or description (a new role closes its sessions)',
      params: usernameParam,
      body: { type: 'object', properties: { role, description: { type: 'string', maxLength: 1000 } } },
      response: { 200: userSchema, ...errors(400, 404) },
    },
  }, async (request) => {
    const { username } = request.params
    const before = users.get(username)
    if (!before) throw new CulexError('CULEX_ERR_API_USER_NOT_FOUND', `no dashboard user ${username}`)
    const { role: newRole, description } = request.body
    if (before.role === 'administrator' && newRole === 'viewer' && users.administrators() === 1) {
      throw new CulexError('CULEX_ERR_API_NOT_ALLOWED', `${username} is the last administrator: it cannot become a viewer`)
    }
    const user = await users.update(username, { role: newRole, description })
    if (user.role !== before.role) {
      sessions.closeUser(username)
      host.log.notice({ username, role: user.role, ...actor(request.dashboardUser) }, 'dashboard user role changed; its sessions are closed')
    }
    return user
  })

  app.delete<{ Params: Params }>(USER_ROUTE, {
    schema: { tags, summary: 'Delete a dashboard user (and close its sessions)', params: usernameParam, response: { 204: NO_CONTENT, ...errors(400, 404) } },
  }, async (request, reply) => {
    const { username } = request.params
    const user = users.get(username)
    if (!user) throw new CulexError('CULEX_ERR_API_USER_NOT_FOUND', `no dashboard user ${username}`)
    if (username === request.dashboardUser) throw new CulexError('CULEX_ERR_API_NOT_ALLOWED', 'Cannot delete self')
    if (user.role === 'administrator' && users.administrators() === 1) throw new CulexError('CULEX_ERR_API_NOT_ALLOWED', `${username} is the last administrator: it cannot be deleted`)
    await users.remove(username)
    sessions.closeUser(username)
    host.log.notice({ username, ...actor(request.dashboardUser) }, 'dashboard user deleted; its sessions are closed')
    return reply.code(204).send()
  })

  app.post<{ Params: Params, Body: { old_pwd: string, new_pwd: string } }>(CHANGE_PWD_ROUTE, {
    schema: {
      tags,
      summary: 'Change a dashboard user\'s password (closes its sessions: log in again)',
      params: usernameParam,
      body: { type: 'object', required: ['old_pwd', 'new_pwd'], properties: { old_pwd: { type: 'string', maxLength: 100 }, new_pwd: { type: 'string', maxLength: 100 } } },
      response: { 204: NO_CONTENT, ...errors(400, 401, 404) },
    },
  }, async (request, reply) => {
    const { old_pwd: oldPassword, new_pwd: newPassword } = request.body
    if (oldPassword === '' || newPassword === '') throw new CulexError('CULEX_ERR_API_BAD_REQUEST', 'Old password or new password undefined')
    await dashboard.changePassword(request.params.username, oldPassword, newPassword, peerOf(request.raw.socket).address)
    return reply.code(204).send()
  })
}
