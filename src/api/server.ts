// The management API (EMQX's /api/v5 on 18083): a fastify instance with API-key auth, EMQX's error
// shape, the route modules, and an OpenAPI document generated from their schemas.
import swagger from '@fastify/swagger'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { BindAddress } from '../config/types.js'
import { CulexError, ERRORS, type ErrorCode, type HttpErrorCode } from '../errors.js'
import type { ApiKeys } from './auth.js'
import { alarmRoutes } from './alarms.js'
import { authenticationUserRoutes } from './authentication-users.js'
import { authenticationRoutes } from './authentication.js'
import { authorizationRuleRoutes } from './authorization-rules.js'
import { authorizationRoutes } from './authorization.js'
import { bannedRoutes } from './banned.js'
import { certRoutes } from './certs.js'
import { certsExpiringRoutes } from './certs-expiring.js'
import { certsBundlesRoutes } from './certs-bundles.js'
import { clientRoutes } from './clients.js'
import { delayedRoutes } from './delayed.js'
import { deviceCertRoutes } from './device-certs.js'
import { Dashboard } from './dashboard/dashboard.js'
import { loadDashboardUsers } from './dashboard/bootstrap.js'
import type { DashboardUsers } from './dashboard/users.js'
import { dashboardLoginRoutes } from './dashboard-login.js'
import { dashboardRoot, serveDashboard } from './dashboard-static.js'
import { dashboardUserRoutes } from './dashboard-users.js'
import { errorSchema, type ApiHost } from './common.js'
import { ProxyProtocolReader, peerOf } from '../listeners/index.js'
import { listenerRoutes } from './listeners.js'
import { monitorRoutes } from './monitor.js'
import { checkRequestOrigin } from './origin.js'
import { nodeRoutes } from './nodes.js'
import { prometheusRoutes } from './prometheus.js'
import { retainerRoutes } from './retainer.js'
import { isApiPath, requestAuthenticator } from './request-auth.js'
import { statsRoutes } from './stats.js'
import { statusRoutes } from './status.js'
import { subscriptionRoutes } from './subscriptions.js'

/** Where the OpenAPI document is served: EMQX's path, and one beside the API. Both are public. */
export const OPENAPI_PATHS = ['/api-docs/swagger.json', '/api/v5/openapi.json'] as const

/** The code of fastify's own 4xx errors (a body too large, a content type no parser takes, ...) by their status; any other is a bad request. */
const FASTIFY_ERRORS: Record<number, HttpErrorCode> = { 401: 'CULEX_ERR_API_BAD_CREDENTIALS', 404: 'CULEX_ERR_API_NOT_FOUND', 413: 'CULEX_ERR_API_TOO_LARGE', 415: 'CULEX_ERR_API_MEDIA_TYPE' }

/** The WWW-Authenticate challenge of a 401: basic auth for API keys, Bearer for dashboard tokens, none for a failed login. */
const CHALLENGES: Partial<Record<ErrorCode, string>> = {
  CULEX_ERR_API_NO_CREDENTIALS: 'Basic realm="culex"',
  CULEX_ERR_API_BAD_CREDENTIALS: 'Basic realm="culex"',
  CULEX_ERR_API_BAD_TOKEN: 'Bearer realm="culex"',
  CULEX_ERR_API_TOKEN_EXPIRED: 'Bearer realm="culex"',
}

/** The status and EMQX code of a CULEX_ERR_API_* code, from the table. */
const http = (code: HttpErrorCode) => ERRORS[code].http

/** The fastify instance with every route, not listening yet; `users`: the dashboard users (else read from node.data_dir). */
export async function buildApi (host: ApiHost, keys: ApiKeys, users?: DashboardUsers): Promise<FastifyInstance> {
  const dashboard = new Dashboard(users ?? await loadDashboardUsers(host.config, host.log), host.config.dashboard, host.log)
  const app = Fastify({ logger: false, routerOptions: { ignoreTrailingSlash: true }, bodyLimit: 2 * 1024 * 1024 })
  app.addHook('onClose', async () => dashboard.close())
  app.addSchema(errorSchema)
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Culex management API', description: 'EMQX-compatible /api/v5 subset. Authenticate with HTTP basic auth, an API key and its secret (api_key.bootstrap_file), or with a Bearer token from POST /api/v5/login.', version: host.version },
      components: { securitySchemes: { basicAuth: { type: 'http', scheme: 'basic' }, bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ basicAuth: [] }, { bearerAuth: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  })

  app.setErrorHandler((err: FastifyError | CulexError, request, reply) => {
    if (err instanceof CulexError && err.http) {
      const challenge = CHALLENGES[err.code]
      if (challenge) void reply.header('WWW-Authenticate', challenge)
      return reply.code(err.http.status).send({ ...err.details, code: err.http.code, message: err.message })
    }
    const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500
    if ('validation' in err && err.validation) return reply.code(400).send({ code: http('CULEX_ERR_API_BAD_REQUEST').code, message: err.message })
    if (status < 500) return reply.code(status).send({ code: http(FASTIFY_ERRORS[status] ?? 'CULEX_ERR_API_BAD_REQUEST').code, message: err.message })
    host.log.error({ err, method: request.method, url: request.url }, 'management API request failed')
    const internal = http('CULEX_ERR_API_INTERNAL')
    return reply.code(internal.status).send({ code: internal.code, message: 'internal error; see the broker log' })
  })
  const keyless = keys.size === 0
  // dashboard.cors as EMQX 5.8: Access-Control-Allow-Origin: * on answers to requests that name an Origin. Never
  // without API keys: any web page could then use the unauthenticated API on 127.0.0.1 through the browser.
  const cors = host.config.dashboard.cors && !keyless
  if (host.config.dashboard.cors && keyless) host.log.warning('dashboard.cors ignored: without API keys (api_key.bootstrap_file) the management API asks for no credentials, and any web page could use it')
  if (cors) app.addHook('onRequest', corsHook)
  app.addHook('onRequest', async (request) => {
    try {
      checkRequestOrigin(request, keyless, cors)
    } catch (err) {
      host.log.warning({ method: request.method, url: request.url.split('?')[0], host: request.headers.host, origin: request.headers.origin, peer: peerOf(request.raw.socket).address }, `management API request refused: ${(err as Error).message}`)
      throw err
    }
  })
  // Without keys only local processes reach the API (127.0.0.1): without a token they are administrators.
  app.decorateRequest('apiRole', 'administrator')
  app.decorateRequest('dashboardUser', null)
  app.addHook('onRequest', requestAuthenticator(keys, dashboard))

  // The dashboard's files, and its pages for GETs outside the API that match no route.
  app.addHook('onRoute', (route) => {
    if (route.url === '/*') route.config = { ...route.config, dashboardFiles: true }
  })
  const page = await serveDashboard(app, dashboardRoot())
  app.setNotFoundHandler((request, reply) => {
    if ((request.method === 'GET' || request.method === 'HEAD') && !isApiPath(request.url)) return page(request, reply)
    const notFound = http('CULEX_ERR_API_NOT_FOUND')
    void reply.code(notFound.status).send({ code: notFound.code, message: `no route ${request.method} ${request.url.split('?')[0]}` })
  })
  for (const routes of [dashboardLoginRoutes, dashboardUserRoutes]) await app.register(routes, { host, dashboard })
  for (const routes of [statusRoutes, nodeRoutes, statsRoutes, monitorRoutes, prometheusRoutes, listenerRoutes, clientRoutes, subscriptionRoutes, retainerRoutes, bannedRoutes, delayedRoutes, certRoutes, certsExpiringRoutes, certsBundlesRoutes, deviceCertRoutes, authenticationUserRoutes, authenticationRoutes, authorizationRuleRoutes, authorizationRoutes, alarmRoutes]) await app.register(routes, { host })
  for (const path of OPENAPI_PATHS) {
    app.get(path, { schema: { hide: true }, config: { public: true } }, async () => app.swagger())
  }
  return app
}

/**
 * Access-Control-Allow-Origin: * for requests with an Origin; a preflight (OPTIONS with
 * Access-Control-Request-Method) is answered here, before authentication, as browsers send it without
 * credentials. No Access-Control-Allow-Credentials: a page must send the API key itself.
 */
async function corsHook (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (request.headers.origin === undefined) return undefined
  void reply.header('access-control-allow-origin', '*')
  if (request.method !== 'OPTIONS' || request.headers['access-control-request-method'] === undefined) return undefined
  const asked = request.headers['access-control-request-headers']
  return reply.code(204).headers({
    'access-control-allow-methods': 'GET, POST, PUT, DELETE',
    'access-control-allow-headers': typeof asked === 'string' && /^[\w\s,-]*$/.test(asked) ? asked : 'authorization, content-type',
    'access-control-max-age': '86400',
    vary: 'access-control-request-headers',
  }).send()
}

export class ManagementApi {
  readonly app: FastifyInstance

  constructor (app: FastifyInstance) {
    this.app = app
  }

  /** The bound address (port 0 resolved). */
  address (): BindAddress {
    const a = this.app.server.address()
    if (!a || typeof a !== 'object') throw new CulexError('CULEX_ERR_NOT_RUNNING', 'the management API is not listening')
    return { host: a.address, port: a.port }
  }

  close (): Promise<void> {
    return this.app.close()
  }
}

/**
 * Builds the API and listens on dashboard.listeners.http.bind, or on 127.0.0.1 when no API key is
 * configured (then it asks for no credentials, so only local processes may reach it). A bind failure
 * is CULEX_ERR_LISTEN.
 */
export async function startApi (host: ApiHost, keys: ApiKeys, users?: DashboardUsers): Promise<ManagementApi> {
  const http = host.config.dashboard.listeners.http
  // inet6: an unspecified IPv4 address means the IPv6 one.
  const bind = http.inet6 && http.bind.host === '0.0.0.0' ? { host: '::', port: http.bind.port } : http.bind
  const address = keys.size > 0 ? bind : { host: '127.0.0.1', port: bind.port }
  if (keys.size === 0) {
    host.log.warning({ bind: `${bind.host}:${bind.port}`, address: `${address.host}:${address.port}` },
      'no API key configured (api_key.bootstrap_file): the management API listens on 127.0.0.1 only, without authentication')
  }
  const app = await buildApi(host, keys, users)
  // Connections beyond max_connections are closed at accept (net.Server.maxConnections).
  app.server.maxConnections = http.max_connections
  if (http.proxy_header) new ProxyProtocolReader({ log: host.log, metrics: host.core.metrics }, 'dashboard:http', 3000, null).install(app.server)
  try {
    await app.listen({ host: address.host, port: address.port, backlog: http.backlog, ipv6Only: http.ipv6_v6only })
  } catch (err) {
    await app.close()
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new CulexError('CULEX_ERR_LISTEN', `management API cannot bind ${address.host}:${address.port}: ${code}`, { cause: err })
  }
  const api = new ManagementApi(app)
  const a = api.address()
  host.log.notice({ address: `${a.host}:${a.port}`, keys: keys.size },
    `management API on http://${a.host}:${a.port}${keys.size > 0 ? ` (${keys.size} API key${keys.size === 1 ? '' : 's'})` : ' (no API key: 127.0.0.1 only)'}`)
  return api
}
