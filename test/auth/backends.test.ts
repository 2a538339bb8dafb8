// The backend clients the HTTP, Redis and PostgreSQL authenticators and sources share: placeholders
// rendered for where they land, against real servers (node:http, redis-server, PostgreSQL).
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { HttpBackend, HttpRequestTemplate } from '../../src/auth/backends/http.js'
import { clientLookup, compileTemplate, render, urlEncode } from '../../src/auth/backends/placeholders.js'
import { prepareQuery, PostgresBackend } from '../../src/auth/backends/postgres.js'
import { parseCommand, RedisBackend, splitCommand } from '../../src/auth/backends/redis.js'
import { hasRedis, redisClient, startRedis } from '../cluster/redis-helpers.js'
import { memoryLog } from '../helpers.js'
import { hasPostgres, startPostgres } from '../postgres.js'

const HOSTILE = 'a b&c=d?e#f/g"h\'i\\j%k+l ${username}'
const client = { clientId: HOSTILE, username: 'alice', remoteAddress: '127.0.0.1', remotePort: 5555, cert: undefined, attrs: { tenant: 't1' } }
const lookup = clientLookup(client, { password: Buffer.from('pw') })

const connection = { connect_timeout: 2000, request_timeout: 2000, pool_size: 2, pool_type: 'random' as const, enable_pipelining: 1, ssl: { enable: false, verify: 'verify_none' as const, versions: ['tlsv1.3' as const, 'tlsv1.2' as const], ciphers: [], depth: 10, reuse_sessions: true, secure_renegotiate: true, log_level: 'notice', hibernate_after: 5000, cacerts: false } }

t.test('templates: each placeholder once, disallowed ones literal, values encoded only where they go', async (t) => {
  const tpl = compileTemplate('${clientid}|${username}|${password}|${peerport}|${client_attrs.tenant}|${client_attrs.none}|${nope}|${$}{x}')
  t.same(tpl.disallowed, ['nope'])
  t.equal(render(tpl, lookup), `${HOSTILE}|alice|pw|5555|t1||\${nope}|\${x}`, 'a value holding ${username} is not expanded again')
  t.equal(urlEncode('a b&c=d/e?f#g\'()*!'), 'a%20b%26c%3Dd%2Fe%3Ff%23g%27%28%29%2A%21')
})

t.test('an HTTP request template: URL-encoded path and query, JSON or form body, GET body as query', async (t) => {
  const post = new HttpRequestTemplate({ method: 'post', url: 'http://h/auth/${clientid}?u=${username}&fixed=1', headers: { 'X-User': '${username}' }, body: { clientid: '${clientid}', nested: { u: '${username}' }, n: 1 } }, 'test')
  const req = post.build(lookup)
  t.equal(req.path, `/auth/${urlEncode(HOSTILE)}?u=alice&fixed=1`)
  t.same(JSON.parse(req.body!), { clientid: HOSTILE, nested: { u: 'alice' }, n: 1 }, 'the JSON body holds the value as one string')
  t.same(req.headers, { 'x-user': 'alice', 'content-type': 'application/json' })
  const form = new HttpRequestTemplate({ method: 'post', url: 'http://h/a', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: { c: '${clientid}' } }, 'test')
  t.same(Object.fromEntries(new URLSearchParams(form.build(lookup).body!)), { c: HOSTILE }, 'the form has one field, whatever the value holds')
  const get = new HttpRequestTemplate({ method: 'get', url: 'http://h/a', headers: { 'content-type': 'application/json' }, body: { c: '${clientid}' } }, 'test')
  const built = get.build(lookup)
  t.same(Object.fromEntries(new URLSearchParams(built.path.split('?')[1])), { c: HOSTILE })
  t.notOk('content-type' in built.headers, 'a GET sends no content-type')
  t.throws(() => new HttpRequestTemplate({ method: 'post', url: 'http://h/a', headers: { 'content-type': 'text/plain' } }, 'k'), /content-type/)
  t.throws(() => new HttpRequestTemplate({ method: 'post', url: 'ftp://h/a', headers: {} }, 'k'), /http/)
  const header = new HttpRequestTemplate({ method: 'get', url: 'http://h/a', headers: { 'x-a': '${client_attrs.evil}' } }, 'k')
  t.throws(() => header.build(clientLookup({ ...client, attrs: { evil: 'x\r\nX-Admin: 1' } })), /line break/, 'a header value cannot start another header')
})

t.test('HttpBackend: keep-alive connections are reused; a refused connection and a timeout are reasons', async (t) => {
  const sockets = new Set<unknown>()
  const seen: IncomingMessage[] = []
  const server = createServer((req, res) => {
    sockets.add(req.socket)
    seen.push(req)
    if (req.url === '/slow') return
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"allow"}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const { log, lines } = memoryLog()
  const backend = new HttpBackend({ ...connection, request_timeout: 500, pool_size: 1, origin }, log, 'test')
  t.teardown(() => backend.close())
  for (let i = 0; i < 5; i++) {
    const res = await backend.request({ method: 'GET', path: '/ok', headers: {} })
    t.equal(res.status, 200)
    t.equal(res.body, '{"result":"allow"}')
  }
  t.equal(sockets.size, 1, 'five requests, one connection')
  await t.rejects(backend.request({ method: 'GET', path: '/slow', headers: {} }), /within request_timeout \(500 ms\)/)
  t.equal(lines.filter((l) => l.level === 40).length, 1, 'the failure is logged once')

  const down = new HttpBackend({ ...connection, origin: 'http://127.0.0.1:1' }, log, 'down')
  t.teardown(() => down.close())
  await t.rejects(down.request({ method: 'GET', path: '/', headers: {} }), /connection refused by http:\/\/127.0.0.1:1\//)
  await t.rejects(down.request({ method: 'GET', path: '/', headers: {} }), /connection refused/)
  t.equal(lines.filter((l) => l.backend === 'down' && l.level === 40).length, 1, 'two failures with one cause: one warning')
})

t.test('Redis commands: split as EMQX does; each placeholder is one argument', async (t) => {
  t.same(splitCommand('HMGET mqtt_user:${username} password_hash salt'), ['HMGET', 'mqtt_user:${username}', 'password_hash', 'salt'])
  t.same(splitCommand(`SET "a b\\x41\\n" 'c\\'d'`), ['SET', 'a bA\n', 'c\'d'])
  t.throws(() => splitCommand('GET "a'), /unterminated/)
  t.throws(() => splitCommand('GET "a"b'), /closing/)
  t.throws(() => parseCommand('', 'k'), /empty/)
  t.throws(() => parseCommand('${username} x', 'k'), /command name/)
  if (!hasRedis) return
  const redis = await startRedis(t)
  const plain = redisClient(t, redis.port)
  await plain.hset('mqtt_user:alice', 'password_hash', 'h1')
  await plain.hset('mqtt_user:x password_hash', 'password_hash', 'never')
  const { log } = memoryLog()
  const backend = new RedisBackend({ redis_type: 'single', server: redis.servers, database: 0, pool_size: 8, ssl: connection.ssl }, log, 'test')
  t.teardown(() => backend.close())
  const cmd = parseCommand('HMGET mqtt_user:${username} password_hash', 'k')
  t.same(await backend.run(cmd, clientLookup({ ...client, username: 'alice' })), ['h1'])
  // A user name with a space and CRLF: still one key argument, not two commands or more fields.
  t.same(await backend.run(cmd, clientLookup({ ...client, username: 'x password_hash\r\nFLUSHALL' })), [null])
  t.equal(await plain.exists('mqtt_user:alice'), 1, 'nothing was flushed')
  await redis.stop()
  await t.rejects(backend.run(cmd, lookup), /redis 127\.0\.0\.1:\d+/)
})

t.test('PostgreSQL: placeholders are bound parameters', { skip: !hasPostgres && 'PostgreSQL is not installed' }, async (t) => {
  const q = prepareQuery('SELECT password_hash FROM mqtt_user WHERE username = ${username} AND (${clientid} <> \'\' OR \'${peerhost}\' = \'x\') AND x = ${nope} LIMIT 1')
  t.equal(q.text, 'SELECT password_hash FROM mqtt_user WHERE username = $1 AND ($2 <> \'\' OR $3 = \'x\') AND x = ${nope} LIMIT 1')
  t.same(q.disallowed, ['nope'])
  const db = await startPostgres(t)
  await db.sql('INSERT INTO mqtt_user (username, password_hash, salt, is_superuser) VALUES ($1, $2, $3, $4)', ['alice', 'h1', 's1', true])
  const { log } = memoryLog()
  const backend = new PostgresBackend({ server: db.server, database: db.database, username: db.user, password: db.password, pool_size: 2, disable_prepared_statements: false, ssl: connection.ssl }, log, 'test')
  t.teardown(() => backend.close())
  const query = prepareQuery('SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = ${username} LIMIT 1')
  t.same(await backend.query(query, clientLookup({ ...client, username: 'alice' })), [{ password_hash: 'h1', salt: 's1', is_superuser: true }])
  t.same(await backend.query(query, clientLookup({ ...client, username: '\' OR \'1\'=\'1' })), [], 'an injection attempt is a user name like any other')
  t.same(await backend.query(query, clientLookup({ ...client, username: 'alice' })), [{ password_hash: 'h1', salt: 's1', is_superuser: true }], 'the prepared statement again')
  await db.stop()
  await t.rejects(backend.query(query, lookup), /postgresql 127\.0\.0\.1:\d+\/mqtt/)
  await db.start()
  t.same(await backend.query(query, clientLookup({ ...client, username: 'alice' })), [{ password_hash: 'h1', salt: 's1', is_superuser: true }], 'back once the server is')
})
