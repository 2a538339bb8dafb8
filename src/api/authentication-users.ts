// /api/v5/authentication/{id}/users: EMQX's user management for the built-in password database
// (`{id}` = password_based:built_in_database, its colon URL-encoded or not). Hashes and salts are
// never returned.
import type { FastifyPluginAsync } from 'fastify'
import { PasswordAuthenticator } from '../auth/password.js'
import { CulexError } from '../errors.js'
import { errors, NO_CONTENT, pageMeta, pageQuery, paginate, type ApiHost } from './common.js'

const userSchema = {
  type: 'object',
  properties: {
    user_id: { type: 'string' },
    is_superuser: { type: 'boolean' },
  },
} as const

const idParam = { id: { type: 'string', description: 'Authenticator id, e.g. password_based:built_in_database' } } as const
const userParams = { type: 'object', properties: { ...idParam, user_id: { type: 'string' } }, required: ['id', 'user_id'] } as const

interface ListQuery { page: number, limit: number, like_user_id?: string, is_superuser?: boolean }
interface UserParams { id: string, user_id: string }

function database (host: ApiHost, id: string): PasswordAuthenticator {
  const authenticator = host.authn?.list().find((a) => a.id === id)
  if (!authenticator) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `no authenticator ${id} in the global chain`)
  if (!(authenticator instanceof PasswordAuthenticator)) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', `authenticator ${id} keeps no users`)
  return authenticator
}

export const authenticationUserRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const tags = ['Authentication']

  app.get<{ Params: { id: string }, Querystring: ListQuery }>('/api/v5/authentication/:id/users', {
    schema: {
      tags,
      summary: 'Users of a password database, paged',
      params: { type: 'object', properties: idParam, required: ['id'] },
      querystring: {
        type: 'object',
        properties: {
          ...pageQuery,
          like_user_id: { type: 'string', description: 'Only user ids containing this' },
          is_superuser: { type: 'boolean' },
        },
      },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: userSchema }, meta: pageMeta } }, ...errors(400, 404) },
    },
  }, async (request) => {
    const { page, limit, like_user_id: like, is_superuser: su } = request.query
    const users = database(host, request.params.id).list()
      .filter((u) => (like === undefined || u.user_id.includes(like)) && (su === undefined || u.is_superuser === su))
    return paginate(users, page, limit)
  })

  app.post<{ Params: { id: string }, Body: { user_id: string, password: string, is_superuser?: boolean } }>('/api/v5/authentication/:id/users', {
    schema: {
      tags,
      summary: 'Add a user',
      params: { type: 'object', properties: idParam, required: ['id'] },
      body: {
        type: 'object',
        required: ['user_id', 'password'],
        properties: { user_id: { type: 'string', minLength: 1 }, password: { type: 'string' }, is_superuser: { type: 'boolean', default: false } },
      },
      response: { 201: userSchema, ...errors(400, 404, 409) },
    },
  }, async (request, reply) => {
    const { user_id: userId, password, is_superuser: su } = request.body
    const user = await database(host, request.params.id).add(userId, password, su)
    if (!user) throw new CulexError('CULEX_ERR_API_EXISTS', `user ${userId} already exists`)
    host.log.notice({ authenticator: request.params.id, user_id: userId }, 'authentication user added through the management API')
    host.cluster?.userChanged(request.params.id, userId)
    return reply.code(201).send(user)
  })

  app.get<{ Params: UserParams }>('/api/v5/authentication/:id/users/:user_id', {
    schema: { tags, summary: 'One user', params: userParams, response: { 200: userSchema, ...errors(400, 404) } },
  }, async (request) => {
    const { id, user_id: userId } = request.params
    const user = database(host, id).get(userId)
    if (!user) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `no user ${userId}`)
    return user
  })

  app.put<{ Params: UserParams, Body: { password?: string, is_superuser?: boolean } }>('/api/v5/authentication/:id/users/:user_id', {
    schema: {
      tags,
      summary: 'Change a user\'s password and/or is_superuser',
      params: userParams,
      body: { type: 'object', properties: { password: { type: 'string' }, is_superuser: { type: 'boolean' } } },
      response: { 200: userSchema, ...errors(400, 404) },
    },
  }, async (request) => {
    const { id, user_id: userId } = request.params
    const user = await database(host, id).update(userId, request.body ?? {})
    if (!user) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `no user ${userId}`)
    host.log.notice({ authenticator: id, user_id: userId }, 'authentication user changed through the management API')
    host.cluster?.userChanged(id, userId)
    return user
  })

  app.delete<{ Params: UserParams }>('/api/v5/authentication/:id/users/:user_id', {
    schema: { tags, summary: 'Remove a user', params: userParams, response: { 204: NO_CONTENT, ...errors(400, 404) } },
  }, async (request, reply) => {
    const { id, user_id: userId } = request.params
    if (!(await database(host, id).delete(userId))) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `no user ${userId}`)
    host.log.notice({ authenticator: id, user_id: userId }, 'authentication user removed through the management API')
    host.cluster?.userChanged(id, userId)
    return reply.code(204).send()
  })
}
