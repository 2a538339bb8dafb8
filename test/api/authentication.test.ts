// /api/v5/authentication and /api/v5/listeners/{listener_id}/authentication: the authenticator chain
// changed at runtime over HTTP, checked by connecting with MQTT.js clients.
import t from 'tap'
import mqtt from 'mqtt'
import { SignJWT } from 'jose'
import { ADMIN, startApiBroker, type ApiBroker } from './api-helpers.js'

const PASSWORD_ID = 'password_based:built_in_database'
const PASSWORD = `/api/v5/authentication/${encodeURIComponent(PASSWORD_ID)}`
const JWT_CONFIG = { mechanism: 'jwt', from: 'password', use_jwks: false, algorithm: 'hmac-based', secret: 'emqxsecret' }
const PASSWORD_CONFIG = { mechanism: 'password_based', backend: 'built_in_database', password_hash_algorithm: { name: 'sha256', salt_position: 'suffix' } }

const token = (secret: string) => new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(secret))

/** Connects an MQTT.js v5 client: 0 when accepted, else the CONNACK reason code (-1: no answer). */
function connack (port: number, username?: string, password?: string): Promise<number> {
  return new Promise((resolve) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, username, password, reconnectPeriod: 0, connectTimeout: 3000 })
    const done = (code: number) => { client.end(true); resolve(code) }
    client.once('connect', () => done(0))
    client.once('error', (err) => done((err as { code?: number }).code ?? -1))
    client.once('close', () => done(-1))
  })
}

const ids = async (b: ApiBroker, path = '/api/v5/authentication') => ((await b.call(path)).json as { id: string }[]).map((a) => a.id)

t.test('the global chain: add, order, move, replace, remove', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const port = b.tcpPort

  const empty = await b.call('/api/v5/authentication')
  t.equal(empty.status, 200)
  t.same(empty.json, [], 'no authenticator configured')
  t.equal(await connack(port), 0, 'anonymous allowed')

  const added = await b.call('/api/v5/authentication', { method: 'POST', json: JWT_CONFIG })
  t.equal(added.status, 200)
  t.match(added.json, { id: 'jwt', enable: true, mechanism: 'jwt', from: 'password', algorithm: 'hmac-based', secret: '******' })
  t.notMatch(added.text, /emqxsecret/, 'the secret is not echoed')
  const good = await token('emqxsecret')
  t.equal(await connack(port, 'u', good), 0, 'a valid token connects')
  t.equal(await connack(port, 'u', await token('wrong')), 0x87, 'a token signed with another secret is refused')
  t.equal(await connack(port), 0x87, 'anonymous is refused now')

  const one = await b.call('/api/v5/authentication/jwt')
  t.equal(one.status, 200)
  t.equal(one.json.secret, '******', 'GET masks the secret')
  t.equal(one.json.refresh_interval, 300, 'durations read as written, in seconds')
  t.notMatch(one.text, /emqxsecret/)

  const dup = await b.call('/api/v5/authentication', { method: 'POST', json: { ...JWT_CONFIG, secret: 'x' } })
  t.equal(dup.status, 409)
  t.equal(dup.json.code, 'ALREADY_EXISTS')

  t.equal((await b.call('/api/v5/authentication', { method: 'POST', json: PASSWORD_CONFIG })).status, 200)
  t.same(await ids(b), ['jwt', PASSWORD_ID], 'added at the end')
  const user = await b.call(`${PASSWORD}/users`, { method: 'POST', json: { user_id: 'alice', password: 'alice-pw' } })
  t.equal(user.status, 201, 'a user added to the new database')
  t.equal(await connack(port, 'alice', 'alice-pw'), 0, 'jwt ignores a non-token, the password database accepts')

  // alice with a token as password: jwt accepts it when first; the database (alice exists, wrong password) denies when first.
  t.equal(await connack(port, 'alice', good), 0, 'jwt first: accepted')
  const front = await b.call(`${PASSWORD}/position/front`, { method: 'PUT' })
  t.equal(front.status, 204)
  t.same(await ids(b), [PASSWORD_ID, 'jwt'])
  t.equal(await connack(port, 'alice', good), 0x86, 'database first: bad user name or password')
  t.equal((await b.call('/api/v5/authentication/password_based:built_in_database/position/after:jwt', { method: 'PUT' })).status, 204, 'the colon unencoded')
  t.same(await ids(b), ['jwt', PASSWORD_ID])
  t.equal(await connack(port, 'alice', good), 0, 'jwt first again')
  t.equal((await b.call(`/api/v5/authentication/jwt/position/before:${PASSWORD_ID}`, { method: 'PUT' })).status, 204)
  t.equal((await b.call('/api/v5/authentication/jwt/position/rear', { method: 'PUT' })).status, 204)
  t.same(await ids(b), [PASSWORD_ID, 'jwt'], 'rear')

  const replaced = await b.call('/api/v5/authentication/jwt', { method: 'PUT', json: { ...JWT_CONFIG, secret: 'newsecret' } })
  t.equal(replaced.status, 200)
  t.equal(replaced.json.secret, '******')
  t.same(await ids(b), [PASSWORD_ID, 'jwt'], 'the replacement keeps its place')
  const fresh = await token('newsecret')
  t.equal(await connack(port, 'u', fresh), 0, 'the new secret works')
  t.equal(await connack(port, 'u', good), 0x87, 'the old one no longer')
  // A GET body sent back as is ("******") keeps the secret.
  const roundTrip = await b.call('/api/v5/authentication/jwt', { method: 'PUT', json: (await b.call('/api/v5/authentication/jwt')).json })
  t.equal(roundTrip.status, 200)
  t.equal(await connack(port, 'u', fresh), 0, '"******" kept the secret')
  const other = await b.call('/api/v5/authentication/jwt', { method: 'PUT', json: PASSWORD_CONFIG })
  t.equal(other.status, 400, 'a body of another mechanism is refused')

  t.equal((await b.call('/api/v5/authentication/jwt', { method: 'DELETE' })).status, 204)
  t.equal(await connack(port, 'u', fresh), 0x87, 'jwt gone: the token means nothing')
  t.equal((await b.call(PASSWORD, { method: 'DELETE' })).status, 204)
  t.same((await b.call('/api/v5/authentication')).json, [])
  t.equal(await connack(port), 0, 'empty chain: anonymous again')
})

t.test('400 naming the field, 404 for unknown ids and listeners', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const bad = await b.call('/api/v5/authentication', { method: 'POST', json: { ...JWT_CONFIG, algorithm: 'rot13' } })
  t.equal(bad.status, 400)
  t.equal(bad.json.code, 'BAD_REQUEST')
  t.match(bad.json.message, /^algorithm: /, 'the path of the bad field')
  const unknownKey = await b.call('/api/v5/authentication', { method: 'POST', json: { ...JWT_CONFIG, secrett: 'x' } })
  t.equal(unknownKey.status, 400)
  t.match(unknownKey.json.message, /secrett/)
  const mechanism = await b.call('/api/v5/authentication', { method: 'POST', json: { mechanism: 'ldap' } })
  t.equal(mechanism.status, 400)
  t.match(mechanism.json.message, /mechanism/)
  t.equal((await b.call('/api/v5/authentication', { method: 'POST', json: [JWT_CONFIG] })).status, 400, 'one authenticator, not a list')
  t.same((await b.call('/api/v5/authentication')).json, [], 'nothing was added')

  for (const [method, path] of [['GET', '/api/v5/authentication/jwt'], ['PUT', '/api/v5/authentication/jwt'], ['DELETE', '/api/v5/authentication/jwt'],
    ['PUT', '/api/v5/authentication/jwt/position/front'], ['GET', '/api/v5/listeners/tcp:nope/authentication']] as const) {
    const r = await b.call(path, { method, ...(method === 'PUT' && !path.includes('position') ? { json: JWT_CONFIG } : {}) })
    t.equal(r.status, 404, `${method} ${path}`)
  }
  t.equal((await b.call('/api/v5/authentication/jwt')).json.code, 'NOT_FOUND')
  t.equal((await b.call('/api/v5/authentication', { method: 'POST', json: JWT_CONFIG })).status, 200)
  t.equal((await b.call(`/api/v5/authentication/jwt/position/before:${PASSWORD_ID}`, { method: 'PUT' })).status, 404, 'moving before an absent authenticator')
  const middle = await b.call('/api/v5/authentication/jwt/position/middle', { method: 'PUT' })
  t.equal(middle.status, 400)
  t.match(middle.json.message, /front, rear/)

  const doc = await b.call('/api/v5/openapi.json')
  for (const path of ['/api/v5/authentication', '/api/v5/authentication/{id}', '/api/v5/authentication/{id}/position/{position}',
    '/api/v5/listeners/{listener_id}/authentication', '/api/v5/listeners/{listener_id}/authentication/{id}/position/{position}']) {
    t.ok(doc.json.paths[path], `documents ${path}`)
  }
  t.match(doc.json.paths['/api/v5/authentication'].post.description, /memory/, 'says changes are not persisted')
})

t.test('a listener\'s chain replaces the global one for that listener only', async (t) => {
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: { listeners: { tcp: { default: { bind: '127.0.0.1:0' }, other: { bind: '127.0.0.1:0' } }, ws: { default: { enable: false } } } },
  })
  const otherPort = b.broker.port('tcp', 'other')
  const base = '/api/v5/listeners/tcp:other/authentication'

  t.same((await b.call(base)).json, [], 'no chain of its own yet')
  const added = await b.call(base, { method: 'POST', json: JWT_CONFIG })
  t.equal(added.status, 200)
  t.equal(added.json.secret, '******')
  t.same(await ids(b, base), ['jwt'])
  t.same(await ids(b), [], 'the global chain is untouched')

  const good = await token('emqxsecret')
  t.equal(await connack(otherPort), 0x87, 'tcp:other refuses anonymous clients')
  t.equal(await connack(otherPort, 'u', good), 0, 'and takes a valid token')
  t.equal(await connack(b.tcpPort), 0, 'tcp:default still allows anonymous clients')

  // A global authenticator does not reach tcp:other, whose own chain replaces the global one.
  t.equal((await b.call('/api/v5/authentication', { method: 'POST', json: { ...JWT_CONFIG, secret: 'global' } })).status, 200)
  t.equal(await connack(b.tcpPort, 'u', await token('global')), 0)
  t.equal(await connack(otherPort, 'u', await token('global')), 0x87, 'the global secret means nothing on tcp:other')

  t.equal((await b.call(`${base}/jwt`, { method: 'PUT', json: { ...JWT_CONFIG, secret: 'other2' } })).status, 200)
  t.equal(await connack(otherPort, 'u', await token('other2')), 0, 'replaced on the listener')
  t.equal((await b.call(`${base}/jwt/position/front`, { method: 'PUT' })).status, 204)
  t.equal((await b.call(`${base}/jwt`, { method: 'DELETE' })).status, 204)
  t.equal((await b.call(`${base}/jwt`)).status, 404)
  t.equal(await connack(otherPort), 0, 'its own chain, now empty: anonymous allowed')
  t.equal(await connack(b.tcpPort), 0x87, 'while tcp:default follows the global chain')
})
