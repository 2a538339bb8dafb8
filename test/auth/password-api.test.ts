// /api/v5/authentication/{id}/users: EMQX's user CRUD on the password database, checked over HTTP and
// by connecting with the users it creates.
import t from 'tap'
import { PasswordAuthenticator } from '../../src/auth/password.js'
import { ADMIN, startApiBroker } from '../api/api-helpers.js'
import { connectClient, end, rawConnect } from '../helpers.js'

const ID = encodeURIComponent('password_based:built_in_database')
const USERS = `/api/v5/authentication/${ID}/users`

t.test('user CRUD, EMQX shapes, never a hash', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN, 'viewer-key:viewer-secret:viewer'] })
  const auth = new PasswordAuthenticator({ mechanism: 'password_based', backend: 'built_in_database', password_hash_algorithm: { name: 'bcrypt', salt_rounds: 5 } },
    { dataDir: b.dataDir, log: b.broker.log })
  b.broker.authn.add(auth)

  const created = await b.call(USERS, { method: 'POST', json: { user_id: 'alice', password: 'pa', is_superuser: true } })
  t.equal(created.status, 201)
  t.same(created.json, { user_id: 'alice', is_superuser: true })
  const bob = await b.call(USERS, { method: 'POST', json: { user_id: 'bob', password: 'pb' } })
  t.same(bob.json, { user_id: 'bob', is_superuser: false }, 'is_superuser defaults to false')
  const again = await b.call(USERS, { method: 'POST', json: { user_id: 'alice', password: 'x' } })
  t.equal(again.status, 409)
  t.equal(again.json.code, 'ALREADY_EXISTS')
  t.equal((await b.call(USERS, { method: 'POST', json: { user_id: 'carol' } })).status, 400, 'a password is required')
  t.equal((await b.call(USERS, { method: 'POST', json: { user_id: 'eve', password: 'x' }, auth: 'viewer-key:viewer-secret' })).status, 403, 'a viewer may not add users')

  const list = await b.call(`${USERS}?page=1&limit=1`)
  t.equal(list.status, 200)
  t.same(list.json, { data: [{ user_id: 'alice', is_superuser: true }], meta: { page: 1, limit: 1, count: 2, hasnext: true } })
  t.notMatch(list.text, /\$2b\$|password|salt/, 'no hash or salt in the answer')
  t.same((await b.call(`${USERS}?like_user_id=ob`)).json.data, [{ user_id: 'bob', is_superuser: false }])
  t.same((await b.call(`${USERS}?is_superuser=true`)).json.data.map((u: { user_id: string }) => u.user_id), ['alice'])

  const one = await b.call(`${USERS}/bob`)
  t.same(one.json, { user_id: 'bob', is_superuser: false })
  t.equal((await b.call(`${USERS}/nobody`)).status, 404)
  // The id with its colon as is.
  t.equal((await b.call('/api/v5/authentication/password_based:built_in_database/users/bob')).status, 200)

  const c = await connectClient(b.tcpPort, { clientId: 'c-bob', username: 'bob', password: 'pb' })
  await end(c)
  const changed = await b.call(`${USERS}/bob`, { method: 'PUT', json: { password: 'pb2', is_superuser: true } })
  t.equal(changed.status, 200)
  t.same(changed.json, { user_id: 'bob', is_superuser: true })
  t.equal(connackCode((await rawConnect(b.tcpPort, 5, { clientId: 'c-bob', username: 'bob', password: Buffer.from('pb') })).connack), 0x86, 'the old password no longer works')
  const c2 = await connectClient(b.tcpPort, { clientId: 'c-bob2', username: 'bob', password: 'pb2' })
  t.equal(b.broker.core.clients.get('c-bob2')?.client?.isSuperuser, true)
  await end(c2)
  t.equal((await b.call(`${USERS}/nobody`, { method: 'PUT', json: { is_superuser: true } })).status, 404)

  t.equal((await b.call(`${USERS}/bob`, { method: 'DELETE' })).status, 204)
  t.equal((await b.call(`${USERS}/bob`, { method: 'DELETE' })).status, 404)
  t.equal(connackCode((await rawConnect(b.tcpPort, 5, { clientId: 'c-bob', username: 'bob', password: Buffer.from('pb2') })).connack), 0x87,
    'a deleted user is unknown: alone in the chain, not authorized')
  t.same((await b.call(USERS)).json.meta.count, 1)
})

t.test('an authenticator id the chain does not hold is 404', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const r = await b.call(`${USERS}`)
  t.equal(r.status, 404)
  t.equal(r.json.code, 'NOT_FOUND')
})

const connackCode = (p: { reasonCode?: number, returnCode?: number }) => p.reasonCode ?? p.returnCode
