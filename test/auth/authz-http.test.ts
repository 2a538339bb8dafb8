// authorization source type = http against a real HTTP service (node:http in the test): EMQX's request
// (placeholders ${clientid} ${username} ${peerhost} ${action} ${topic} ${qos} ${retain} ${client_attrs.*}) and
// answers ({"result": allow | deny | ignore}, 204, a form), keep-alive, and the failures: an error status,
// a service that is down or slow (request_timeout) are ignored: the next source or no_match decides, the
// backend logs it once, and culex_authz_total counts it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import { connectOwned, startBroker, until, type TestBroker } from '../helpers.js'

interface Seen { method: string, url: string, headers: IncomingMessage['headers'], body: string }

/** The service: `answer` decides each request (undefined: never answers). */
async function service (t: Test, answer: (seen: Seen, res: ServerResponse) => void) {
  const seen: Seen[] = []
  let connections = 0
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body }
      seen.push(s)
      answer(s, res)
    })
  })
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections }
}

function publish (c: MqttClient, topic: string, retain = false): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos: 1, retain }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

async function broker (t: Test, authorization: Record<string, unknown>): Promise<TestBroker> {
  const b = await startBroker({ authorization }, {
    // What an authenticator would set: an attribute for ${client_attrs.group}.
    hooks: { authenticate: () => ({ result: 'ok', attrs: { group: 'g&1' } }) },
  })
  t.teardown(() => b.close())
  return b
}

t.test('EMQX\'s request and answers: JSON body with the placeholders, result allow/deny/ignore, 204, a form answer', async (t) => {
  const svc = await service(t, (s, res) => {
    const { topic } = JSON.parse(s.body) as { topic: string }
    if (topic === 'no/content') return void res.writeHead(204).end()
    if (topic === 'form/allow') return void res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' }).end('result=allow')
    const result = topic.startsWith('allow/') ? 'allow' : topic.startsWith('deny/') ? 'deny' : 'ignore'
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result }))
  })
  const b = await broker(t, {
    no_match: 'deny',
    cache: { enable: false },
    sources: [{
      type: 'http', method: 'post', url: `${svc.url}/authz`, headers: { 'X-Client': '${clientid}' },
      body: { clientid: '${clientid}', username: '${username}', peerhost: '${peerhost}', action: '${action}', topic: '${topic}', qos: '${qos}', retain: '${retain}', group: '${client_attrs.group}' },
    }],
  })
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'dev "1"', username: 'alice' })
  t.equal(await publish(c, 'allow/1', true), 0)
  t.same(JSON.parse(svc.seen[0]!.body), { clientid: 'dev "1"', username: 'alice', peerhost: '127.0.0.1', action: 'publish', topic: 'allow/1', qos: '1', retain: 'true', group: 'g&1' }, 'every placeholder, as a JSON string')
  t.match(svc.seen[0], { method: 'POST', url: '/authz', headers: { 'x-client': 'dev "1"', 'content-type': 'application/json' } })
  t.equal(await publish(c, 'deny/1'), 0x87, 'deny')
  t.equal(await publish(c, 'other'), 0x87, 'ignore: no_match = deny decides')
  t.equal(await publish(c, 'no/content'), 0, '204 allows')
  t.equal(await publish(c, 'form/allow'), 0, 'a form answer')
  t.match(await c.subscribeAsync('allow/#', { qos: 2 }), [{ qos: 2 }])
  t.match(JSON.parse(svc.seen.at(-1)!.body), { action: 'subscribe', topic: 'allow/#', qos: '2', retain: 'false' })
  t.same(b.broker.authz.counts.get('http'), { allow: 4, deny: 1, nomatch: 1, error: 0 })
  t.ok(svc.connections() <= 2, `requests share keep-alive connections (${svc.connections()} opened for ${svc.seen.length} requests)`)
})

t.test('GET: placeholders URL-encoded in the query, so a hostile client id adds no parameter', async (t) => {
  const svc = await service(t, (_s, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"allow"}'))
  const b = await broker(t, { no_match: 'deny', sources: [{ type: 'http', method: 'get', url: `${svc.url}/acl?clientid=\${clientid}&topic=\${topic}`, headers: {} }] })
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'x&admin=1' })
  t.equal(await publish(c, 'a/b c'), 0)
  const query = new URLSearchParams(svc.seen[0]!.url.split('?')[1])
  t.same(Object.fromEntries(query), { clientid: 'x&admin=1', topic: 'a/b c' })
  t.equal(svc.seen[0]!.method, 'GET')
})

t.test('failures are ignored: an error status, an unreadable answer, a slow service and a stopped one; the next source decides', async (t) => {
  let mode = 'error'
  const held: ServerResponse[] = []
  const svc = await service(t, (_s, res) => {
    if (mode === 'error') return void res.writeHead(500).end('boom')
    if (mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"maybe"}')
    if (mode === 'slow') return void held.push(res)
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"deny"}')
  })
  t.teardown(() => { for (const res of held) res.destroy() })
  const b = await broker(t, {
    no_match: 'deny',
    cache: { enable: false },
    sources: [
      { type: 'http', url: `${svc.url}/authz`, request_timeout: '300ms', body: { topic: '${topic}' } },
      { type: 'file', rules: '{allow, all, publish, ["fallback/#"]}.' },
    ],
  })
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'f1' })
  t.equal(await publish(c, 'fallback/1'), 0, 'HTTP 500: ignored, the file allows')
  t.equal(await publish(c, 'elsewhere'), 0x87, 'HTTP 500: ignored, no_match denies')
  t.match(b.logs.find((l) => l.msg === 'backend request failed: ' + `${svc.url}/authz answered HTTP 500`), { level: 40 }, 'logged with the reason')
  mode = 'garbage'
  t.equal(await publish(c, 'fallback/2'), 0, 'an answer without a result: ignored')
  t.ok(b.logs.some((l) => typeof l.reason === 'string' && l.reason.includes('without {"result"')), 'logged')
  mode = 'slow'
  t.equal(await publish(c, 'fallback/3'), 0, 'no answer within request_timeout: ignored')
  t.ok(b.logs.some((l) => typeof l.reason === 'string' && l.reason.includes('within request_timeout')), 'logged')
  mode = 'deny'
  t.equal(await publish(c, 'fallback/4'), 0x87, 'answering again: its deny decides')
  await until(() => b.logs.some((l) => l.msg === 'backend answers again'), 'the recovery line')
  t.match(b.broker.authz.counts.get('http'), { error: 4, deny: 1 })

  const stopped = await broker(t, {
    no_match: 'allow',
    sources: [{ type: 'http', url: 'http://127.0.0.1:1/authz' }, { type: 'file', rules: '{deny, all, publish, ["blocked/#"]}.' }],
  })
  const d = await connectOwned(t, stopped.tcpPort, { protocolVersion: 5, clientId: 'f2' })
  t.equal(await publish(d, 'blocked/1'), 0x87, 'a service that is down: ignored, the file denies')
  t.equal(await publish(d, 'open/1'), 0, 'and no_match allows')
  t.ok(stopped.logs.some((l) => typeof l.reason === 'string' && l.reason.includes('connection refused')), 'the log says the connection was refused')
  t.match(stopped.broker.authz.counts.get('http'), { error: 2 })
})
