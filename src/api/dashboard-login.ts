// POST /api/v5/login and /api/v5/logout: EMQX's dashboard login. A login answers a token for
// `Authorization: Bearer`, the role, the version and the edition; Culex adds password_change_required.
import type { FastifyPluginAsync } from 'fastify'
import { CulexError } from '../errors.js'
import { peerOf } from '../listeners/index.js'
import { errors, NO_CONTENT, type ApiHost } from './common.js'
import { bearerToken, LOGOUT_ROUTE } from './dashboard/access.js'
import type { Dashboard } from './dashboard/dashboard.js'
import { DASHBOARD_ROLES } from './dashboard/users.js'
import { MAX_NAME_LENGTH } from './dashboard/rules.js'

interface LoginBody { username: string, password: string }

export const dashboardLoginRoutes: FastifyPluginAsync<{ host: ApiHost, dashboard: Dashboard }> = async (app, { host, dashboard }) => {
  const tags = ['Dashboard']

  app.post<{ Body: LoginBody }>('/api/v5/login', {
    config: { public: true },
    schema: {
      tags,
      summary: 'Dashboard login: a token for Authorization: Bearer',
      security: [],
      body: {
        type: 'object',
        required: ['username', 'password'],
        properties: { username: { type: 'string', maxLength: MAX_NAME_LENGTH }, password: { type: 'string', maxLength: 100 } },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            token: { type: 'string' },
            role: { type: 'string', enum: [...DASHBOARD_ROLES] },
            version: { type: 'string' },
            license: { type: 'object', properties: { edition: { type: 'string', enum: ['opensource'] } } },
            password_change_required: { type: 'boolean', description: 'Culex: the user still has dashboard.default_password; the token reaches only change_pwd, logout and GET /api/v5/users/{username} until it is changed' },
          },
        },
        ...errors(400, 401, 503),
      },
    },
  }, async (request) => {
    const { username, password } = request.body
    const { token, user } = await dashboard.login(username, password, peerOf(request.raw.socket).address)
    return { token, role: user.role, version: host.version, license: { edition: 'opensource' }, password_change_required: user.password_change_required }
  })

  // No body schema: EMQX's dashboard sends {"username"}, and a logout without a body is one too.
  app.post(LOGOUT_ROUTE, {
    schema: {
      tags,
      summary: 'Dashboard logout: the Bearer token stops working (body: {"username": the token\'s user}, optional)',
      response: { 204: NO_CONTENT, ...errors(401) },
    },
  }, async (request, reply) => {
    const token = bearerToken(request.headers.authorization)
    const named = (request.body as { username?: unknown } | null | undefined)?.username
    if (token === undefined || request.dashboardUser === null || (named !== undefined && named !== request.dashboardUser)) {
      throw new CulexError('CULEX_ERR_API_LOGOUT', 'Ensure your token & username: logout takes the Bearer token of a dashboard login, and the user name it was given for')
    }
    dashboard.sessions.close(token)
    host.log.info({ username: request.dashboardUser }, 'dashboard logout')
    return reply.code(204).send()
  })
}
