// /api/v5/authentication and /api/v5/listeners/{listener_id}/authentication: EMQX's management of the
// authenticator chain (global, or a listener's own one that replaces it). Bodies are one `authentication`
// entry of the config file, validated with the same schema; secrets are shown as "******", and "******"
// sent back in a PUT keeps the current value. Changes live in memory: a restart reloads the config file.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { authenticatorId, type AuthnChain, type ChainPosition } from '../auth/chain.js'
import { orderMessage } from '../auth/order.js'
import type { Authenticator } from '../auth/types.js'
import { authenticationList, type AuthenticatorConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import { orderSchema, parseOrder, statusAnswer, statusSchema } from './auth-common.js'
import type { Role } from './auth.js'
import { errors, NO_CONTENT, type ApiHost } from './common.js'
import { maskSecrets, unmaskSecrets } from './mask.js'
const authenticatorSchema = authenticationList.element

const IN_MEMORY = 'Changes made through the API are kept in memory only: a restart loads the chain from the configuration file again. In a cluster they are made on every running node.'

const configSchema = {
  type: 'object',
  additionalProperties: true,
  description: 'One authenticator, as an `authentication` entry of the configuration (mechanism = jwt | cert | password_based, ...), with its `id`. Secrets read "******".',
} as const

const bodySchema = {
  type: 'object',
  additionalProperties: true,
  description: 'One authenticator, as an `authentication` entry of the configuration, e.g. { "mechanism": "jwt", "from": "password", "use_jwks": false, "algorithm": "hmac-based", "secret": "emqxsecret" }. An `id` field is ignored.',
} as const

const idParam = { type: 'string', description: 'Authenticator id, e.g. jwt or password_based:built_in_database (the colon may be URL-encoded)' } as const
const listenerParam = { type: 'string', description: 'Listener id, type:name, e.g. tcp:default' } as const
const positionParam = { type: 'string', description: 'front, rear, before:<authenticator id> or after:<authenticator id>' } as const

const orderBody = orderSchema('id', 'Authenticator id, e.g. password_based:built_in_database', '[{ "id": "jwt" }, { "id": "password_based:built_in_database" }]')
const authnStatus = statusSchema(['total', 'success', 'failed', 'nomatch'], 'connected; disconnected while its backend\'s last request failed')

interface Params { listener_id?: string, id?: string, position?: string }

function render (chain: AuthnChain, authenticator: Authenticator, role: Role): Record<string, unknown> {
  const config = chain.configOf(authenticator)
  if (!config) return { id: authenticator.id, enable: true }
  const shown = maskSecrets(config, role) as Record<string, unknown>
  // The schema turns refresh_interval into milliseconds; show seconds, as it is written.
  if (config.mechanism === 'jwt') shown.refresh_interval = config.refresh_interval / 1000
  return { id: authenticator.id, ...shown }
}

function parse (body: unknown, current?: AuthenticatorConfig): AuthenticatorConfig {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', 'expected one authenticator object')
  const { id: _id, ...given } = body as Record<string, unknown>
  const parsed = authenticatorSchema.safeParse(current ? unmaskSecrets(given, current) : given)
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'authenticator'}: ${i.message}`).join('; ')
    throw new CulexError('CULEX_ERR_API_BAD_REQUEST', message)
  }
  return parsed.data
}

function parsePosition (position: string): ChainPosition {
  if (position === 'front' || position === 'rear') return position
  const at = position.indexOf(':')
  const where = position.slice(0, at)
  const ref = position.slice(at + 1)
  if (at > 0 && ref !== '' && where === 'before') return { before: ref }
  if (at > 0 && ref !== '' && where === 'after') return { after: ref }
  throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `bad position ${position}: expected front, rear, before:<id> or after:<id>`)
}

/** EMQX's status of an authenticator on this node: its answers (success, failed, nomatch: ignored or failing) and their rate. */
function status (chain: AuthnChain, authenticator: Authenticator, node: string): Record<string, unknown> {
  const counts = chain.results.get(authenticator.id) ?? { allow: 0, deny: 0, ignore: 0, error: 0 }
  const metrics = {
    total: counts.allow + counts.deny + counts.ignore + counts.error,
    success: counts.allow,
    failed: counts.deny,
    nomatch: counts.ignore + counts.error,
    ...chain.rates.rate(authenticator.id),
  }
  return statusAnswer(node, metrics, authenticator.failing === true ? 'disconnected' : 'connected')
}

function chainOf (host: ApiHost): AuthnChain {
  if (!host.authn) throw new CulexError('CULEX_ERR_API_UNAVAILABLE', 'no authenticator chain')
  return host.authn
}

/** The chain key: undefined for the global chain, else a listener id that exists. */
function scope (host: ApiHost, params: Params): string | undefined {
  const listener = params.listener_id
  if (listener === undefined) return undefined
  if (!host.listeners.some((l) => l.id === listener)) throw new CulexError('CULEX_ERR_API_LISTENER_NOT_FOUND', `listener ${listener} not found`)
  return listener
}

function find (chain: AuthnChain, id: string, listener: string | undefined): Authenticator {
  const found = chain.list(listener).find((a) => a.id === id)
  if (!found) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `no authenticator ${id} in the ${listener === undefined ? 'global' : `${listener} listener's`} chain`)
  return found
}

function build (chain: AuthnChain, config: AuthenticatorConfig): Authenticator {
  try {
    return chain.create(config)
  } catch (err) {
    throw new CulexError('CULEX_ERR_API_BAD_REQUEST', (err as Error).message, { cause: err })
  }
}

/** The routes under `base` (global, or per listener with a :listener_id parameter). */
function chainRoutes (app: FastifyInstance, host: ApiHost, base: string, perListener: boolean): void {
  const tags = ['Authentication']
  const where = perListener ? 'the listener\'s chain (created on the first POST; it replaces the global chain for that listener)' : 'the global chain'
  const listenerProps = perListener ? { listener_id: listenerParam } : {}
  const listenerRequired = perListener ? ['listener_id'] : []
  const baseParams = perListener ? { params: { type: 'object', properties: listenerProps, required: listenerRequired } } : {}
  const idParams = { type: 'object', properties: { ...listenerProps, id: idParam }, required: [...listenerRequired, 'id'] }
  const log = (listener: string | undefined, id: string, what: string) =>
    host.log.notice({ authenticator: id, ...(listener === undefined ? {} : { listener }) }, `authenticator ${what} through the management API`)

  app.get<{ Params: Params }>(base, {
    schema: { tags, summary: `Authenticators of ${where}, in order`, ...baseParams, response: { 200: { type: 'array', items: configSchema }, ...errors(404) } },
  }, async (request) => {
    const chain = chainOf(host)
    const listener = scope(host, request.params)
    if (listener !== undefined && !chain.hasChain(listener)) return []
    return chain.list(listener).map((a) => render(chain, a, request.apiRole))
  })

  app.post<{ Params: Params, Body: unknown }>(base, {
    schema: { tags, summary: `Add an authenticator at the end of ${where}`, description: IN_MEMORY, ...baseParams, body: bodySchema, response: { 200: configSchema, ...errors(400, 404, 409) } },
  }, async (request) => {
    const chain = chainOf(host)
    const listener = scope(host, request.params)
    const config = parse(request.body)
    const id = authenticatorId(config)
    if (chain.list(listener).some((a) => a.id === id)) throw new CulexError('CULEX_ERR_API_EXISTS', `authenticator ${id} already exists`)
    const authenticator = build(chain, config)
    chain.add(authenticator, undefined, listener, config)
    log(listener, id, 'added')
    host.cluster?.authnChanged({ op: 'add', listener: listener ?? null, config })
    return render(chain, authenticator, request.apiRole)
  })

  app.put<{ Params: Params, Body: unknown }>(`${base}/order`, {
    schema: {
      tags,
      summary: `Put ${where} in a new order`,
      description: `The body names every authenticator of the chain exactly once; an id the chain does not have, one named twice or one left out is refused (400) and the order stays. ${IN_MEMORY}`,
      ...baseParams,
      body: orderBody,
      response: { 204: NO_CONTENT, ...errors(400, 404) },
    },
  }, async (request, reply) => {
    const chain = chainOf(host)
    const listener = scope(host, request.params)
    const ids = parseOrder(request.body, 'id')
    const problem = chain.reorder(ids, listener)
    if (problem) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', orderMessage(problem, 'Authenticators'))
    host.log.notice({ order: ids.join(','), ...(listener === undefined ? {} : { listener }) }, 'authenticators ordered through the management API')
    host.cluster?.authnChanged({ op: 'order', listener: listener ?? null, ids })
    return reply.code(204).send()
  })

  app.get<{ Params: Params }>(`${base}/:id/status`, {
    schema: { tags, summary: `What an authenticator of ${where} answered on this node, and whether its backend answers`, params: idParams, response: { 200: authnStatus, ...errors(404) } },
  }, async (request) => {
    const chain = chainOf(host)
    return status(chain, find(chain, request.params.id!, scope(host, request.params)), host.config.node.name)
  })

  app.get<{ Params: Params }>(`${base}/:id`, {
    schema: { tags, summary: `One authenticator of ${where}`, params: idParams, response: { 200: configSchema, ...errors(404) } },
  }, async (request) => {
    const chain = chainOf(host)
    return render(chain, find(chain, request.params.id!, scope(host, request.params)), request.apiRole)
  })

  app.put<{ Params: Params, Body: unknown }>(`${base}/:id`, {
    schema: {
      tags,
      summary: `Replace an authenticator of ${where}, keeping its place`,
      description: `The old authenticator is closed. "******" for a secret keeps the current one. ${IN_MEMORY}`,
      params: idParams,
      body: bodySchema,
      response: { 200: configSchema, ...errors(400, 404) },
    },
  }, async (request) => {
    const chain = chainOf(host)
    const listener = scope(host, request.params)
    const id = request.params.id!
    const old = find(chain, id, listener)
    const config = parse(request.body, chain.configOf(old))
    if (authenticatorId(config) !== id) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `the body describes authenticator ${authenticatorId(config)}, not ${id}`)
    const authenticator = build(chain, config)
    chain.replace(authenticator, listener, config)
    log(listener, id, 'replaced')
    host.cluster?.authnChanged({ op: 'replace', listener: listener ?? null, config })
    return render(chain, authenticator, request.apiRole)
  })

  app.delete<{ Params: Params }>(`${base}/:id`, {
    schema: { tags, summary: `Remove an authenticator from ${where}`, description: IN_MEMORY, params: idParams, response: { 204: NO_CONTENT, ...errors(404) } },
  }, async (request, reply) => {
    const chain = chainOf(host)
    const listener = scope(host, request.params)
    const id = request.params.id!
    if (!chain.remove(id, listener)) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `no authenticator ${id}`)
    log(listener, id, 'removed')
    host.cluster?.authnChanged({ op: 'remove', listener: listener ?? null, id })
    return reply.code(204).send()
  })

  app.put<{ Params: Params }>(`${base}/:id/position/:position`, {
    schema: {
      tags,
      summary: `Move an authenticator within ${where}`,
      description: IN_MEMORY,
      params: { type: 'object', properties: { ...idParams.properties, position: positionParam }, required: [...idParams.required, 'position'] },
      response: { 204: NO_CONTENT, ...errors(400, 404) },
    },
  }, async (request, reply) => {
    const chain = chainOf(host)
    const listener = scope(host, request.params)
    const id = request.params.id!
    const position = parsePosition(request.params.position!)
    find(chain, id, listener)
    try {
      chain.move(id, position, listener)
    } catch (err) {
      throw new CulexError('CULEX_ERR_API_NOT_FOUND', (err as Error).message, { cause: err })
    }
    log(listener, id, `moved to ${request.params.position}`)
    host.cluster?.authnChanged({ op: 'move', listener: listener ?? null, id, position })
    return reply.code(204).send()
  })
}

export const authenticationRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  chainRoutes(app, host, '/api/v5/authentication', false)
  chainRoutes(app, host, '/api/v5/listeners/:listener_id/authentication', true)
}
