// mechanism = password_based, backend = http: an EMQX-shaped request to a real HTTP service (node:http),
// and what each answer does to the client; the failure modes (down at start, 500, slow, down mid-run)
// pass the client to the next authenticator, are logged once per cause and counted.
import t from 'tap'
import { makePki, tempDir, writeFiles } from '../certs/pki.js'
import { startApiBroker } from '../api/api-helpers.js'
import { collect, connectOwned, freePort, startBroker, until } from '../helpers.js'
import type { MqttClient } from 'mqtt'
import { authService, connack, metric } from './authn-helpers.js'

/** The SUBACK code of one filter (MQTT.js rejects on a failure code; the code is in its packet). */
async function subscribeCode (client: MqttClient, topic: string): Promise<number> {
  try {
    return (await client.subscribeAsync(topic))[0]!.qos
  } catch (err) {
    return (err as { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? -1
  }
}

const HTTP = (url: string, extra: Record<string, unknown> = {}) => ({
  mechanism: 'password_based',
  backend: 'http',
  method: 'post',
  url,
  body: { username: '${username}', password: '${password}', clientid: '${clientid}', peerhost: '${peerhost}', tenant: '${client_attrs.tenant}' },
  request_timeout: '2s',
  ...extra,
})

t.test('POST JSON: EMQX\'s body shape, values JSON-encoded, and each answer', async (t) => {
  const auth = await authService(t)
  const b = await startBroker({
    authentication: [HTTP(`${auth.url}/mqtt/auth?node=\${peerhost}`)],
    authorization: { no_match: 'deny', sources: [{ type: 'file', rules: '{allow, all, all, ["t/${client_attrs.group}/#"]}.' }] },
  })
  t.teardown(() => b.close())
  const port = b.tcpPort
  const hostile = 'id "quote" \\ {"x":1} ${username}'
  t.equal(await connack(port, { clientId: hostile, username: 'alice', password: 'pa"ss' }), 0, 'allowed')
  const req = auth.seen.at(-1)!
  t.equal(req.method, 'POST')
  t.equal(req.url, '/mqtt/auth?node=127.0.0.1')
  t.equal(req.headers['content-type'], 'application/json')
  t.same(JSON.parse(req.body), { username: 'alice', password: 'pa"ss', clientid: hostile, peerhost: '127.0.0.1', tenant: '' }, 'each value is one JSON string, taken literally')

  auth.answer = { status: 200, type: 'application/json', body: '{"result":"deny"}' }
  t.equal(await connack(port, { username: 'bob', password: 'x' }), 0x87, 'deny: not authorized')
  auth.answer = { status: 200, type: 'application/json', body: '{"result":"ignore"}' }
  t.equal(await connack(port, { username: 'bob', password: 'x' }), 0x87, 'ignore with no other authenticator: the chain refuses')
  auth.answer = { status: 204 }
  t.equal(await connack(port, { username: 'bob', password: 'x' }), 0, '204: allowed')
  auth.answer = { status: 200, type: 'application/json', body: '{"result":"allow","expire_at":12}' }
  t.equal(await connack(port, { username: 'bob', password: 'x' }), 0x86, 'allow with expire_at in the past: bad user name or password')

  // allow with attributes, superuser and an ACL: the client's attribute opens the file rule.
  auth.answer = { status: 200, type: 'application/json', body: JSON.stringify({ result: 'allow', is_superuser: false, client_attrs: { group: 'g1', 'bad name': 'x' } }) }
  const c = await connectOwned(t, port, { clientId: 'attrs', username: 'carol', password: 'x', protocolVersion: 5 })
  const got = collect(c)
  await c.subscribeAsync('t/g1/#', { qos: 1 })
  await c.publishAsync('t/g1/x', 'hi', { qos: 1 })
  await got.waitFor(1)
  t.equal(got.messages[0]!.topic, 't/g1/x', '${client_attrs.group} from the HTTP answer is used by the ACL rule')
  t.equal(await subscribeCode(c, 't/g2/#'), 0x87, 'and another group is denied')

  auth.answer = { status: 200, type: 'application/json', body: JSON.stringify({ result: 'allow', acl: [{ permission: 'allow', action: 'all', topic: 'own/#' }, { permission: 'deny', action: 'all', topic: '#' }] }) }
  const d = await connectOwned(t, port, { clientId: 'acl', username: 'dave', password: 'x', protocolVersion: 5 })
  t.equal(await subscribeCode(d, 'own/x'), 0, 'the answer\'s acl allows own/#')
  t.equal(await subscribeCode(d, 'other/x'), 0x87, 'and denies the rest')
})

t.test('GET with a form-encoded answer; the body joins the query, URL-encoded', async (t) => {
  const auth = await authService(t)
  auth.answer = { status: 200, type: 'application/x-www-form-urlencoded', body: 'result=allow&is_superuser=true' }
  const b = await startBroker({ authentication: [HTTP(`${auth.url}/auth/\${username}`, { method: 'get', body: { c: '${clientid}' } })] })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { clientId: 'a&b=c#d', username: 'u/../x?y' }), 0)
  const req = auth.seen.at(-1)!
  t.equal(req.method, 'GET')
  const url = new URL(req.url, 'http://x')
  t.equal(url.pathname, '/auth/u%2F..%2Fx%3Fy', 'a value in the path stays one segment')
  t.same(Object.fromEntries(url.searchParams), { c: 'a&b=c#d' }, 'a value in the query stays one parameter')
  t.notOk(req.headers['content-type'], 'no content-type on a GET')
})

t.test('failure modes: next authenticator, final answer, one log line per cause, counted', async (t) => {
  const auth = await authService(t)
  const closed = await freePort()
  const b = await startApiBroker(t, {
    config: {
      authentication: [
        HTTP(`${auth.url}/auth`, { request_timeout: '300ms', pool_size: 1 }),
        { mechanism: 'password_based', backend: 'built_in_database' },
      ],
    },
  })
  const port = b.tcpPort
  const users = `/api/v5/authentication/${encodeURIComponent('password_based:built_in_database')}/users`
  t.equal((await b.call(users, { method: 'POST', json: { user_id: 'local', password: 'local-pw' } })).status, 201)

  // Keep-alive: one pool connection serves every request.
  for (let i = 0; i < 4; i++) t.equal(await connack(port, { username: `k${i}`, password: 'x' }), 0)
  t.equal(new Set(auth.seen.map((s) => s.socket)).size, 1, 'four CONNECTs, one connection to the service')

  auth.answer = { status: 500, type: 'text/plain', body: 'boom' }
  t.equal(await connack(port, { username: 'local', password: 'local-pw' }), 0, 'HTTP 500: the next authenticator accepts a user it has')
  t.equal(await connack(port, { username: 'nobody', password: 'x' }), 0x87, 'and the chain refuses one nobody knows')
  t.equal(await connack(port, { username: 'nobody', password: 'x' }), 0x87)
  const refusal = b.logs.filter((l) => l.msg === 'authentication refused').at(-1)
  t.match(refusal?.detail, /password_based:http: .*answered HTTP 500/, 'the refusal says what the service did')
  t.equal(b.logs.filter((l) => l.msg !== 'authentication refused' && String(l.msg).includes('answered HTTP 500')).length, 1, 'the service\'s failure: one warning for three clients')

  auth.answer = 'hang'
  t.equal(await connack(port, { username: 'local', password: 'local-pw' }), 0, 'slow: after request_timeout, the next authenticator')
  t.ok(b.logs.some((l) => /within request_timeout \(300 ms\)/.test(String(l.msg))), 'the timeout is logged')

  auth.answer = { status: 200, type: 'application/json', body: 'not json' }
  t.equal(await connack(port, { username: 'local', password: 'local-pw' }), 0, 'a body that is not JSON: ignored')

  // Down mid-run: the service closes; then back.
  auth.server.closeAllConnections()
  await new Promise<void>((resolve) => auth.server.close(() => resolve()))
  t.equal(await connack(port, { username: 'local', password: 'local-pw' }), 0, 'service down: the next authenticator')
  t.ok(b.logs.some((l) => /connection refused/.test(String(l.msg))), 'logged: connection refused')
  auth.answer = { status: 200, type: 'application/json', body: '{"result":"allow"}' }
  await new Promise<void>((resolve) => auth.server.listen(auth.port, '127.0.0.1', resolve))
  await until(async () => (await connack(port, { username: 'back', password: 'x' })) === 0, 'the service answers again')
  t.ok(b.logs.some((l) => l.msg === 'backend answers again'), 'its recovery is logged')

  const text = (await b.call('/api/v5/prometheus/stats')).text
  t.ok(metric(text, 'culex_authn_total', { authenticator: 'password_based:http', result: 'allow' }) >= 5, 'allows counted')
  t.ok(metric(text, 'culex_authn_total', { authenticator: 'password_based:http', result: 'error' }) >= 6, 'failures counted as error')
  t.ok(metric(text, 'culex_authn_total', { authenticator: 'password_based:built_in_database', result: 'allow' }) >= 4)
  t.equal(metric(text, 'culex_authn_total', { authenticator: 'password_based:built_in_database', result: 'ignore' }), 2, 'nobody: ignored by the database twice')

  // A service down at start: the broker starts and clients get the chain's answer.
  const down = await startBroker({ authentication: [HTTP(`http://127.0.0.1:${closed}/auth`)] })
  t.teardown(() => down.close())
  t.equal(await connack(down.tcpPort, { username: 'u', password: 'p' }), 0x87, 'refused: no authenticator accepted the client')
  t.match(down.logs.find((l) => l.msg === 'authentication refused'), { detail: /connection refused by http:\/\/127\.0\.0\.1:\d+\/auth/ })
})

t.test('https with a client certificate', async (t) => {
  const pki = await makePki()
  const dir = await tempDir(t)
  const files = await writeFiles(dir, { 'ca.pem': pki.ca.certPem, 'client.pem': pki.client.certPem, 'client.key': pki.client.keyPem })
  const auth = await authService(t, { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true })
  const ssl = { enable: true, verify: 'verify_peer', cacertfile: files['ca.pem'], certfile: files['client.pem'], keyfile: files['client.key'] }
  const b = await startBroker({ authentication: [HTTP(`${auth.url}/auth`, { ssl })] })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { username: 'u', password: 'p' }), 0, 'allowed over https')
  const socket = auth.seen.at(-1)!.socket as import('node:tls').TLSSocket
  t.equal(socket.getPeerCertificate().subject?.CN, 'client', 'the service saw the client certificate')

  const noCert = await startBroker({ authentication: [HTTP(`${auth.url}/auth`, { ssl: { enable: true, verify: 'verify_peer', cacertfile: files['ca.pem'] } })] })
  t.teardown(() => noCert.close())
  t.equal(await connack(noCert.tcpPort, { username: 'u', password: 'p' }), 0x87, 'without the client certificate the service refuses the handshake: ignored, then refused')
})
