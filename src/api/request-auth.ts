// Who a management API request is: a dashboard token (Authorization: Bearer), always checked, gives its user's
// role; an API key (basic auth) gives the key's; without API keys, a request without a token is an
// administrator (the API then listens on 127.0.0.1 only). Public routes and the dashboard's files need neither.
import type { FastifyRequest } from 'fastify'
import { authorize, type ApiKeys } from './auth.js'
import { bearerToken, checkSessionAccess } from './dashboard/access.js'
import type { Dashboard } from './dashboard/dashboard.js'

const API_PATH = /^\/(api|api-docs)(\/|\?|$)/

/** The onRequest hook that sets request.apiRole and request.dashboardUser, or throws a 401 or 403 CulexError. */
export function requestAuthenticator (keys: ApiKeys, dashboard: Dashboard) {
  const keyless = keys.size === 0
  return async (request: FastifyRequest): Promise<void> => {
    if (isPublic(request)) return
    const token = bearerToken(request.headers.authorization)
    if (token !== undefined) {
      const session = dashboard.sessions.use(token)
      checkSessionAccess(session, { method: request.method, route: request.routeOptions.url, params: request.params })
      request.apiRole = session.role
      request.dashboardUser = session.username
      return
    }
    if (!keyless) request.apiRole = authorize(keys, request.headers.authorization, request.method, request.url)
  }
}

/** Whether a URL is the API's (or its OpenAPI document's) rather than the dashboard's. */
export function isApiPath (url: string): boolean {
  return API_PATH.test(url)
}

/** Public routes; the dashboard's files and pages (GET or HEAD of a path outside /api, found or not). */
function isPublic (request: FastifyRequest): boolean {
  const config = request.routeOptions.config
  if (config.public === true) return true
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  return (config.dashboardFiles === true || request.is404) && !API_PATH.test(request.url)
}
