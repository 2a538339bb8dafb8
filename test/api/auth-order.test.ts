// PUT /api/v5/authorization/sources/order and PUT /api/v5/authentication/order (EMQX 5.8): the body names
// every source (authenticator) once, in the new order; connected clients are decided in that order at once.
// A type or id that is not there, one named twice or one left out is refused with a message naming it,
// and the order in force stays.
import { SignJWT } from 'jose'
import t from 'tap'
import { connack } from '../auth/authn-helpers.js'
import { connectOwned, pubackCode } from '../helpers.js'
import { ADMIN, startApiBroker, type ApiBroker } from './api-helpers.js'

const SOURCES = '/api/v5/authorization/sources'
const ORDER = `${SOURCES}/order`
const PASSWORD_ID = 'password_based:built_in_database'

const types = async (b: ApiBroker) => ((await b.call(SOURCES)).json.sources as { type: string }[]).map((s) => s.type)
const ids = async (b: ApiBroker, path = '/api/v5/authentication') => ((await b.call(path)).json as { id: string }[]).map((a) => a.id)

t.test('authorization sources: a new order applies to connected clients; a wrong list is refused and changes nothing', async (t) => {
  const b = await startApiBroker(t, {
    config: {
      authorization: {
        no_match: 'deny',
        sources: [{ type: 'file', rules: '{allow, all, publish, ["a/#"]}.' }, { type: 'built_in_database' }, { type: 'http', enable: false, url: 'http://127.0.0.1:9/authz' }],
      },
    },
  })
  const rules = await b.call(`${SOURCES}/built_in_database/rules/users`, { method: 'POST', json: [{ username: 'u1', rules: [{ topic: 'a/#', permission: 'deny', action: 'publish' }] }] })
  t.equal(rules.status, 204, rules.text)
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'o1', username: 'u1' })
  t.equal(await pubackCode(c, 'a/1'), 0, 'the file source, asked first, allows')

  const put = await b.call(ORDER, { method: 'PUT', json: [{ type: 'built_in_database' }, { type: 'http' }, { type: 'file' }] })
  t.equal(put.status, 204, put.text)
  t.same(await types(b), ['built_in_database', 'http', 'file'], 'listed in the new order, the disabled one in its place')
  t.same(b.broker.authz.sources.map((s) => s.id), ['built_in_database', 'file'], 'asked in the new order')
  t.equal(await pubackCode(c, 'a/1'), 0x87, 'the built-in database, asked first now, denies (the cached allow went)')

  const refused = async (body: unknown, message: RegExp, what: string) => {
    const r = await b.call(ORDER, { method: 'PUT', json: body })
    t.equal(r.status, 400, what)
    t.match(r.json, { code: 'BAD_REQUEST', message }, what)
  }
  await refused([{ type: 'file' }, { type: 'built_in_database' }], /^No positions are specified for authorization sources: http$/, 'one left out')
  await refused([{ type: 'file' }, { type: 'file' }, { type: 'built_in_database' }, { type: 'http' }], /^Authorization sources: file are named more than once$/, 'one named twice')
  await refused([{ type: 'redis' }, { type: 'file' }, { type: 'built_in_database' }], /^Authorization sources: redis are not found, No positions are specified for authorization sources: http$/, 'a type that is not configured, and one left out')
  await refused([{ type: 'mongodb' }, { type: 'file' }], /^Unknown authorization source types: mongodb \(expected file, built_in_database, http, redis, postgresql\)$/, 'a type no source has')
  await refused({ type: 'file' }, /^body must be array$/, 'an object, not an array')
  await refused(['file', 'http'], /^body\/0 must be object$/, 'strings, not objects')
  await refused([{ type: 'file', enable: true }, { type: 'http' }, { type: 'built_in_database' }], /^order\.0: Unrecognized key: "enable"$/, 'an unknown field')
  t.same(await types(b), ['built_in_database', 'http', 'file'], 'the order in force stays')
  t.equal(await pubackCode(c, 'a/2'), 0x87)

  t.equal((await b.call(ORDER, { method: 'PUT', json: [{ type: 'file' }, { type: 'built_in_database' }, { type: 'http' }] })).status, 204)
  t.equal(await pubackCode(c, 'a/3'), 0, 'back to the file source first')
  t.ok(b.logs.some((l) => l.msg === 'authorization sources ordered file, built_in_database, http through the management API'), 'logged')

  const doc = await b.call('/api/v5/openapi.json')
  t.ok(doc.json.paths['/api/v5/authorization/sources/order']?.put, 'documented')
})

t.test('authorization sources: a viewer key cannot reorder; an empty list orders no sources', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN, 'view-key:view-secret:viewer'], config: { authorization: { sources: [] } } })
  t.equal((await b.call(ORDER, { method: 'PUT', json: [], auth: 'view-key:view-secret' })).status, 403)
  t.equal((await b.call(ORDER, { method: 'PUT', json: [] })).status, 204, 'no sources, none named')
  const r = await b.call(ORDER, { method: 'PUT', json: [{ type: 'file' }] })
  t.match(r, { status: 400, json: { message: 'Authorization sources: file are not found' } })
})

const token = (secret: string) => new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(secret))

t.test('authenticators: a new order decides the next CONNECT; a wrong list is refused and changes nothing', async (t) => {
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      authentication: [
        { mechanism: 'jwt', from: 'password', use_jwks: false, algorithm: 'hmac-based', secret: 'emqxsecret' },
        { mechanism: 'password_based', backend: 'built_in_database' },
      ],
    },
  })
  t.equal((await b.call(`/api/v5/authentication/${encodeURIComponent(PASSWORD_ID)}/users`, { method: 'POST', json: { user_id: 'alice', password: 'alice-pw' } })).status, 201)
  const good = await token('emqxsecret')
  t.equal(await connack(b.tcpPort, { username: 'alice', password: good }), 0, 'jwt first: the token is accepted')

  const put = await b.call('/api/v5/authentication/order', { method: 'PUT', json: [{ id: PASSWORD_ID }, { id: 'jwt' }] })
  t.equal(put.status, 204, put.text)
  t.same(await ids(b), [PASSWORD_ID, 'jwt'])
  t.equal(await connack(b.tcpPort, { username: 'alice', password: good }), 0x86, 'the database first: alice\'s password is not the token')

  const refused = async (body: unknown, message: RegExp, what: string) => {
    const r = await b.call('/api/v5/authentication/order', { method: 'PUT', json: body })
    t.equal(r.status, 400, what)
    t.match(r.json, { code: 'BAD_REQUEST', message }, what)
  }
  await refused([{ id: 'jwt' }], /^No positions are specified for authenticators: password_based:built_in_database$/, 'one left out')
  await refused([{ id: 'jwt' }, { id: 'jwt' }, { id: PASSWORD_ID }], /^Authenticators: jwt are named more than once$/, 'one named twice')
  await refused([{ id: 'scram:built_in_database' }, { id: 'jwt' }, { id: PASSWORD_ID }], /^Authenticators: scram:built_in_database are not found$/, 'one not in the chain')
  await refused([{ type: 'jwt' }], /^body\/0 must have required property 'id'$/, 'type, not id')
  await refused([{ id: 'jwt', enable: true }, { id: PASSWORD_ID }], /^order\.0: Unrecognized key: "enable"$/, 'an unknown field')
  t.same(await ids(b), [PASSWORD_ID, 'jwt'], 'the order in force stays')

  t.equal((await b.call('/api/v5/authentication/order', { method: 'PUT', json: [{ id: 'jwt' }, { id: PASSWORD_ID }] })).status, 204)
  t.equal(await connack(b.tcpPort, { username: 'alice', password: good }), 0, 'jwt first again')
  t.ok(b.logs.some((l) => l.msg === 'authenticators ordered through the management API' && l.order === `jwt,${PASSWORD_ID}`), 'logged')

  const doc = await b.call('/api/v5/openapi.json')
  t.ok(doc.json.paths['/api/v5/authentication/order']?.put, 'documented')
})

t.test('authenticators: a listener\'s own chain is ordered under its path; an unknown listener is 404', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const base = '/api/v5/listeners/tcp:default/authentication'
  t.equal((await b.call(base, { method: 'POST', json: { mechanism: 'password_based', backend: 'built_in_database' } })).status, 200)
  t.equal((await b.call(base, { method: 'POST', json: { mechanism: 'jwt', from: 'password', use_jwks: false, algorithm: 'hmac-based', secret: 'emqxsecret' } })).status, 200)
  t.same(await ids(b, base), [PASSWORD_ID, 'jwt'])
  t.equal((await b.call(`${base}/order`, { method: 'PUT', json: [{ id: 'jwt' }, { id: PASSWORD_ID }] })).status, 204)
  t.same(await ids(b, base), ['jwt', PASSWORD_ID], 'the listener\'s chain is reordered')
  t.same(await ids(b), [], 'the global chain is untouched')
  t.equal((await b.call('/api/v5/listeners/tcp:nope/authentication/order', { method: 'PUT', json: [] })).status, 404)
})
