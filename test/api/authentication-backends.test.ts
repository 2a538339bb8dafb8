// /api/v5/authentication with the backend mechanisms (password_based: http, redis, postgresql): create,
// read (passwords masked), update ("******" keeps the password), move and delete, global and per listener,
// each checked by connecting.
import { createHash } from 'node:crypto'
import t from 'tap'
import { authService, connack } from '../auth/authn-helpers.js'
import { hasPostgres, startPostgres } from '../postgres.js'
import { ADMIN, startApiBroker } from './api-helpers.js'

const HTTP_ID = 'password_based:http'
const PG_ID = 'password_based:postgresql'
const REDIS_ID = 'password_based:redis'
const enc = encodeURIComponent
const ids = async (b: Awaited<ReturnType<typeof startApiBroker>>, path = '/api/v5/authentication') => ((await b.call(path)).json as { id: string }[]).map((a) => a.id)

t.test('http, redis and postgresql authenticators through the API', { skip: !hasPostgres && 'PostgreSQL is not installed' }, async (t) => {
  const auth = await authService(t)
  const db = await startPostgres(t)
  await db.sql('INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES ($1, $2, $3, false)', ['pguser', createHash('sha256').update('s' + 'pg-pw').digest('hex'), 's'])
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const port = b.tcpPort

  const http = { mechanism: 'password_based', backend: 'http', method: 'post', url: `${auth.url}/auth`, headers: { 'content-type': 'application/json', Authorization: 'Bearer svc-token-1' }, body: { u: '${username}' } }
  const added = await b.call('/api/v5/authentication', { method: 'POST', json: http })
  t.equal(added.status, 200, added.text)
  t.match(added.json, { id: HTTP_ID, backend: 'http', method: 'post', pool_size: 8, request_timeout: 5000 })
  t.equal(added.json.headers.Authorization, '******', 'the Authorization header is masked')
  t.equal(await connack(port, { username: 'x', password: 'y' }), 0, 'the HTTP service allows')
  t.equal(auth.seen.at(-1)!.headers.authorization, 'Bearer svc-token-1')

  const pgConfig = { mechanism: 'password_based', backend: 'postgresql', server: db.server, database: db.database, username: db.user, password: db.password, query: 'SELECT password_hash, salt FROM mqtt_user WHERE username = ${username}' }
  const pgAdded = await b.call('/api/v5/authentication', { method: 'POST', json: pgConfig })
  t.equal(pgAdded.status, 200, pgAdded.text)
  t.equal(pgAdded.json.password, '******', 'the database password is masked')
  t.notMatch(pgAdded.text, db.password)
  const redisAdded = await b.call('/api/v5/authentication', { method: 'POST', json: { mechanism: 'password_based', backend: 'redis', redis_type: 'single', server: '127.0.0.1:1', password: 'redis-secret', cmd: 'HMGET mqtt_user:${username} password_hash salt' } })
  t.equal(redisAdded.status, 200, redisAdded.text)
  t.equal(redisAdded.json.password, '******')
  t.same(await ids(b), [HTTP_ID, PG_ID, REDIS_ID])

  const bad = await b.call('/api/v5/authentication', { method: 'POST', json: { mechanism: 'password_based', backend: 'mysql' } })
  t.equal(bad.status, 400, 'an unknown backend')
  const badCmd = await b.call(`/api/v5/authentication/${enc(REDIS_ID)}`, { method: 'PUT', json: { ...redisAdded.json, cmd: 'DEL x' } })
  t.equal(badCmd.status, 400)
  t.match(badCmd.json.message, /cmd: the command must be HGET or HMGET/)

  // The HTTP service refuses; PostgreSQL (second) must decide: pguser passes.
  auth.answer = { status: 200, type: 'application/json', body: '{"result":"ignore"}' }
  t.equal(await connack(port, { username: 'pguser', password: 'pg-pw' }), 0, 'the http service ignores, postgresql accepts')
  auth.answer = { status: 200, type: 'application/json', body: '{"result":"deny"}' }
  t.equal(await connack(port, { username: 'pguser', password: 'pg-pw' }), 0x87, 'http first denies')
  t.equal((await b.call(`/api/v5/authentication/${enc(PG_ID)}/position/front`, { method: 'PUT' })).status, 204)
  t.same(await ids(b), [PG_ID, HTTP_ID, REDIS_ID])
  t.equal(await connack(port, { username: 'pguser', password: 'pg-pw' }), 0, 'postgresql first accepts')

  // PUT the GET body back with one change: "******" keeps the password, so the database still accepts.
  const { id: _id, ...shown } = (await b.call(`/api/v5/authentication/${enc(PG_ID)}`)).json as Record<string, unknown>
  t.equal(shown.password, '******')
  const put = await b.call(`/api/v5/authentication/${enc(PG_ID)}`, { method: 'PUT', json: { ...shown, pool_size: 3 } })
  t.equal(put.status, 200, put.text)
  t.equal(put.json.pool_size, 3)
  t.equal(await connack(port, { username: 'pguser', password: 'pg-pw' }), 0, 'the kept password still logs in')

  t.equal((await b.call(`/api/v5/authentication/${enc(PG_ID)}`, { method: 'DELETE' })).status, 204)
  t.equal((await b.call(`/api/v5/authentication/${enc(REDIS_ID)}`, { method: 'DELETE' })).status, 204)
  t.same(await ids(b), [HTTP_ID])
  t.equal(await connack(port, { username: 'pguser', password: 'pg-pw' }), 0x87, 'only the HTTP service (deny) is left')

  // A listener's own chain.
  auth.answer = { status: 204 }
  const listenerPath = '/api/v5/listeners/tcp:default/authentication'
  const own = await b.call(listenerPath, { method: 'POST', json: { ...pgConfig } })
  t.equal(own.status, 200, own.text)
  t.same(await ids(b, listenerPath), [PG_ID])
  t.equal(await connack(port, { username: 'someone', password: 'x' }), 0x87, 'the listener\'s chain (postgresql) replaces the global one (which allows)')
  t.equal(await connack(port, { username: 'pguser', password: 'pg-pw' }), 0)
  t.equal((await b.call(`${listenerPath}/${enc(PG_ID)}`, { method: 'DELETE' })).status, 204)
})
