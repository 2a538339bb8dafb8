// Management API access: API keys from api_key.bootstrap_file as HTTP basic auth, EMQX's 401 bodies,
// roles, the public status and OpenAPI routes, loopback-only without keys, and start-up failures.
import { createServer } from 'node:net'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { createBroker } from '../../src/index.js'
import { memoryLog, startBroker } from '../helpers.js'
import { ADMIN, call, startApiBroker, tempDir } from './api-helpers.js'

t.test('with keys: no credentials or a wrong secret get 401, the right key gets through', async (t) => {
  const b = await startApiBroker(t, { keys: ['# bootstrap keys', '', ADMIN, 'reader:reader-secret:viewer'] })

  const none = await b.call('/api/v5/clients', { auth: '' })
  t.equal(none.status, 401)
  t.equal(none.json.code, 'AUTHORIZATION_HEADER_ERROR', 'no header: EMQX\'s code')
  t.match(none.headers.get('www-authenticate'), /^Basic/)

  for (const auth of ['admin-key:wrong', 'nobody:admin-secret', 'admin-key:', 'admin-key']) {
    const r = await b.call('/api/v5/clients', { auth })
    t.equal(r.status, 401, `${auth} → 401`)
    t.same(r.json, { code: 'BAD_API_KEY_OR_SECRET', message: 'Check api_key/api_secret' })
  }
  const unknownRoute = await b.call('/api/v5/no-such-thing', { auth: '' })
  t.equal(unknownRoute.status, 401, 'an unknown route tells nothing without a key')

  const ok = await b.call('/api/v5/clients')
  t.equal(ok.status, 200, 'the right key works')
  t.same(ok.json.meta, { page: 1, limit: 100, count: 0, hasnext: false })
  t.equal((await b.call('/api/v5/no-such-thing')).json.code, 'NOT_FOUND', 'with a key, unknown routes are 404 NOT_FOUND')

  const viewerRead = await b.call('/api/v5/banned', { auth: 'reader:reader-secret' })
  t.equal(viewerRead.status, 200, 'a viewer reads')
  const viewerWrite = await b.call('/api/v5/banned', { auth: 'reader:reader-secret', method: 'POST', json: { as: 'clientid', who: 'x' } })
  t.equal(viewerWrite.status, 403, 'a viewer cannot write')
  t.equal(viewerWrite.json.code, 'UNAUTHORIZED_ROLE')
  t.equal(b.broker.core.banned.size, 0, 'and nothing was banned')
})

t.test('status and the OpenAPI document need no key', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const status = await b.call('/api/v5/status', { auth: '' })
  t.equal(status.status, 200)
  t.equal(status.text, 'Node culex@127.0.0.1 is started\nculex is running')
  t.equal((await b.call('/status', { auth: '' })).status, 200, 'EMQX\'s /status health check too')

  for (const path of ['/api-docs/swagger.json', '/api/v5/openapi.json']) {
    const doc = await b.call(path, { auth: '' })
    t.equal(doc.status, 200, path)
    t.match(doc.json.openapi, /^3\./)
    t.same(doc.json.components.securitySchemes.basicAuth, { type: 'http', scheme: 'basic' })
    const paths = Object.keys(doc.json.paths)
    for (const route of ['/api/v5/status', '/api/v5/stats', '/api/v5/metrics', '/api/v5/listeners', '/api/v5/listeners/{id}',
      '/api/v5/listeners/{id}/restart', '/api/v5/clients', '/api/v5/clients/{clientid}', '/api/v5/banned', '/api/v5/banned/{as}/{who}',
      '/api/v5/certs/global/list', '/api/v5/certs/global/name/{name}', '/api/v5/certs/ns/{namespace}/list', '/api/v5/certs/ns/{namespace}/name/{name}']) {
      t.ok(paths.includes(route), `${path} documents ${route}`)
    }
    t.same(doc.json.paths['/api/v5/status'].get.security, [], 'status is documented as public')
    t.ok(doc.json.paths['/api/v5/clients/{clientid}'].delete, 'the kick is documented')
    t.same(Object.keys(doc.json.paths['/api/v5/certs/global/name/{name}'].post.requestBody.content).sort(),
      ['application/json', 'multipart/form-data'], 'cert uploads take JSON and multipart')
    t.equal(doc.json.components.schemas.ApiError.properties.code.type, 'string', 'the error shape is a named schema')
  }
})

t.test('without keys: loopback only whatever bind says, no credentials asked, a warning at start', async (t) => {
  const b = await startBroker({ dashboard: { listeners: { http: { bind: '0.0.0.0:0' } } } })
  t.teardown(() => b.close())
  const address = b.broker.api!.address()
  t.equal(address.host, '127.0.0.1', 'bound to 127.0.0.1, not 0.0.0.0')
  const warning = b.logs.find((l) => l.level === 40 && String(l.msg).startsWith('no API key configured'))
  t.ok(warning, 'the warning is logged')
  t.match(String(warning?.msg), /127\.0\.0\.1 only/)
  t.equal(warning?.bind, '0.0.0.0:0', 'it names the configured bind')
  const r = await call(`http://127.0.0.1:${address.port}`, '/api/v5/listeners')
  t.equal(r.status, 200, 'served without credentials')
})

t.test('with keys the configured address is used', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  t.notOk(b.logs.some((l) => String(l.msg).startsWith('no API key configured')), 'no loopback warning')
  t.equal(b.broker.api!.address().host, '127.0.0.1')
})

t.test('a malformed or missing key file stops start-up naming file and line', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'keys.txt')
  await writeFile(file, 'good:secret\n# comment\nbad-line-without-secret\n')
  const config = (bootstrap: string) => ({
    node: { data_dir: dir },
    listeners: { tcp: { default: { bind: '127.0.0.1:0' } } },
    dashboard: { listeners: { http: { bind: '127.0.0.1:0' } } },
    api_key: { bootstrap_file: bootstrap },
  })
  await t.rejects(createBroker({ logger: memoryLog().log, config: config(file) }), { code: 'CULEX_ERR_API_KEYS', message: `${file}:3: expected key:secret or key:secret:role` })
  await writeFile(file, 'k:s:owner\n')
  await t.rejects(createBroker({ logger: memoryLog().log, config: config(file) }), { code: 'CULEX_ERR_API_KEYS', message: /keys\.txt:1: role "owner"/ })
  await t.rejects(createBroker({ logger: memoryLog().log, config: config(join(dir, 'absent.txt')) }), { code: 'CULEX_ERR_API_KEYS', message: /absent\.txt: ENOENT/ })
})

t.test('a taken API port: the broker runs on without the API and logs why', async (t) => {
  const blocker = createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  const port = (blocker.address() as { port: number }).port
  const b = await startBroker({ dashboard: { listeners: { http: { bind: `127.0.0.1:${port}` } } } })
  t.teardown(() => b.close())
  t.equal(b.broker.api, null)
  t.throws(() => b.broker.apiPort(), /not running/)
  const line = b.logs.find((l) => l.level === 50 && l.code === 'CULEX_ERR_LISTEN')
  t.match(String(line?.msg), `management API cannot bind 127.0.0.1:${port}: EADDRINUSE`)
  t.ok(b.broker.listener('tcp')?.running, 'MQTT is served')
})

t.test('dashboard.listeners.http.enable = false: no API', async (t) => {
  const b = await startBroker({ dashboard: { listeners: { http: { enable: false, bind: '127.0.0.1:0' } } } })
  t.teardown(() => b.close())
  t.equal(b.broker.api, null)
})
