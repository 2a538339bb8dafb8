// mechanism = password_based, backend = postgresql against a real PostgreSQL (test/postgres.ts): EMQX's
// documented table and query, hash algorithms, placeholders as bound parameters, and the server going
// away at start and mid-run.
import { createHash } from 'node:crypto'
import bcrypt from 'bcryptjs'
import t from 'tap'
import { freePort, startBroker } from '../helpers.js'
import { hasPostgres, startPostgres, type TestPostgres } from '../postgres.js'
import { connack } from './authn-helpers.js'

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const PG = (db: Pick<TestPostgres, 'server' | 'database' | 'user' | 'password'>, extra: Record<string, unknown> = {}) => ({
  mechanism: 'password_based',
  backend: 'postgresql',
  server: db.server,
  database: db.database,
  username: db.user,
  password: db.password,
  query: 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} LIMIT 1',
  password_hash_algorithm: { name: 'sha256', salt_position: 'prefix' },
  pool_size: 2,
  ...extra,
})

t.test('EMQX\'s table and query: outcomes, injection, down mid-run and back', { skip: !hasPostgres && 'PostgreSQL is not installed' }, async (t) => {
  const db = await startPostgres({ teardown: (fn) => t.teardown(async () => { try { await fn() } catch (err) { console.log('TD ERR', err); throw err } }) })
  await db.sql('INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8), ($9, NULL, NULL, false)',
    ['alice', sha256('s1' + 'alice-pw'), 's1', true, 'bob', sha256('s2' + 'bob-pw'), 's2', false, 'nohash'])
  const b = await startBroker({ authentication: [PG(db)] })
  t.teardown(async () => { try { await b.close() } catch (err) { console.log('CLOSE ERR', err); throw err } })
  const port = b.tcpPort
  t.equal(await connack(port, { username: 'alice', password: 'alice-pw' }), 0, 'the right password')
  t.equal(await connack(port, { username: 'bob', password: 'alice-pw' }), 0x86, 'another user\'s: bad user name or password')
  t.equal(await connack(port, { username: 'bob' }), 0x86, 'no password')
  t.equal(await connack(port, { username: 'nobody', password: 'x' }), 0x87, 'no row: ignored, the chain refuses')
  t.equal(await connack(port, { username: 'nohash', password: 'x' }), 0x87, 'a row without a hash: not authorized')
  t.equal(await connack(port, { username: '\' OR \'1\'=\'1', password: 'alice-pw' }), 0x87, 'SQL in the user name is a user name')
  t.equal(await connack(port, { username: 'alice\'; DROP TABLE mqtt_user; --', password: 'x' }), 0x87)
  t.equal((await db.sql('SELECT count(*)::int AS n FROM mqtt_user')).rows[0].n, 3, 'the table is intact')

  await db.stop()
  t.equal(await connack(port, { username: 'alice', password: 'alice-pw' }), 0x87, 'PostgreSQL down: ignored, refused by the chain')
  t.match(b.logs.filter((l) => l.msg === 'authentication refused').at(-1), { detail: /password_based:postgresql: .*postgresql 127\.0\.0\.1:\d+\/mqtt/ })
  await db.start()
  t.equal(await connack(port, { username: 'alice', password: 'alice-pw' }), 0, 'back once the server is')
  t.ok(b.logs.some((l) => l.msg === 'backend answers again' && l.backend === 'password_based:postgresql'), 'the recovery is logged')
})

t.test('bcrypt hashes, unnamed statements, client attributes and the client id as parameters', { skip: !hasPostgres && 'PostgreSQL is not installed' }, async (t) => {
  const db = await startPostgres(t)
  await db.sql('INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES ($1, $2, NULL, false)', ['t1:carol', await bcrypt.hash('carol-pw', 5)])
  const b = await startBroker({
    mqtt: { client_attrs_init: [{ expression: 'nth(1, tokens(clientid, \'-\'))', set_as_attr: 'tenant' }] },
    authentication: [PG(db, {
      query: 'SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${client_attrs.tenant} || \':\' || ${username} LIMIT 1',
      password_hash_algorithm: { name: 'bcrypt' },
      disable_prepared_statements: true,
    })],
  })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { clientId: 't1-dev', username: 'carol', password: 'carol-pw' }), 0, 'tenant from the client id, user from CONNECT')
  t.equal(await connack(b.tcpPort, { clientId: 't2-dev', username: 'carol', password: 'carol-pw' }), 0x87, 'another tenant has no such user')
})

t.test('PostgreSQL down at start: the broker starts; clients get the chain\'s answer', async (t) => {
  const closed = await freePort()
  const b = await startBroker({ authentication: [PG({ server: `127.0.0.1:${closed}`, database: 'mqtt', user: 'u', password: 'p' })] })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'x' }), 0x87)
  t.match(b.logs.find((l) => l.msg === 'authentication refused'), { detail: /connection refused by postgresql 127\.0\.0\.1:\d+\/mqtt/ })
})
