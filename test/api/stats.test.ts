// /api/v5/status, /api/v5/stats and /api/v5/metrics: EMQX's names and shapes, and figures that follow traffic.
import t from 'tap'
import { collect, connectClient, end, rawConnect } from '../helpers.js'
import { handshake, pkiDir, basePki, sslOptions } from '../listeners/tls-helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

t.test('status: EMQX\'s text, or JSON with ?format=json', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { node: { name: 'culex-test@127.0.0.1' } } })
  const text = await b.call('/api/v5/status')
  t.equal(text.status, 200)
  t.match(text.headers.get('content-type'), /^text\/plain/)
  t.equal(text.text, 'Node culex-test@127.0.0.1 is started\nculex is running')
  const json = await b.call('/api/v5/status?format=json')
  t.same(json.json, { node_name: 'culex-test@127.0.0.1', rel_vsn: b.broker.version, broker_status: 'started', app_status: 'running' })
  t.equal((await b.call('/api/v5/status?format=xml')).json.code, 'BAD_REQUEST', 'an unknown format is a 400')
})

t.test('stats and metrics follow connections, subscriptions and messages', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const stats = async () => (await b.call('/api/v5/stats?aggregate=true')).json as Record<string, number>
  const metrics = async () => (await b.call('/api/v5/metrics?aggregate=true')).json as Record<string, number>

  const before = await stats()
  t.equal(before['connections.count'], 0)
  t.equal(before['subscriptions.count'], 0)
  const m0 = await metrics()
  t.equal(m0['messages.received'], 0)

  const sub = await connectClient(b.tcpPort, { clientId: 'stats-sub', protocolVersion: 5 })
  const pub = await connectClient(b.tcpPort, { clientId: 'stats-pub' })
  t.teardown(() => Promise.all([end(sub, true), end(pub, true)]))
  const got = collect(sub)
  await sub.subscribeAsync(['s/a', 's/b', '$share/g/s/a'], { qos: 1 })
  await pub.publishAsync('s/a', 'one', { qos: 1 })
  await pub.publishAsync('r/kept', 'kept', { qos: 1, retain: true })
  await got.waitFor(2)

  const now = await stats()
  t.equal(now['connections.count'], 2)
  t.equal(now['connections.max'], 2)
  t.equal(now['sessions.count'], 2)
  t.equal(now['subscriptions.count'], 3)
  t.equal(now['subscriptions.shared.count'], 1)
  t.equal(now['subscribers.count'], 1)
  t.equal(now['topics.count'], 2, 's/a (shared or not) and s/b')
  t.equal(now['retained.count'], 1)

  const m1 = await until(async () => { const m = await metrics(); return m['messages.sent'] >= 2 ? m : undefined }, 'deliveries counted')
  t.equal(m1['messages.received'], 2, 'two PUBLISH received')
  t.equal(m1['messages.sent'], 2, 's/a went to the plain and the shared subscription')
  t.ok(m1['bytes.received'] > m0['bytes.received'], 'bytes received grew')
  t.ok(m1['bytes.sent'] > 0, 'bytes sent grew')
  t.ok(m1['packets.received'] >= 6, 'CONNECT, SUBSCRIBE, PUBLISH, ... counted')

  const perNode = await b.call('/api/v5/stats')
  t.equal(perNode.json.length, 1, 'without aggregate: one object per node, as EMQX')
  t.equal(perNode.json[0].node, 'culex@127.0.0.1')
  t.equal(perNode.json[0]['connections.count'], 2)

  await end(pub)
  await until(async () => (await stats())['connections.count'] === 1, 'connections.count back to 1')
  t.equal((await stats())['connections.max'], 2, 'the maximum stays')
})

t.test('metrics count refused CONNECTs and TLS handshakes by reason', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: sslOptions(pki) } },
      },
    },
  })
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'refused-id', protocolVersion: 5, properties: { authenticationMethod: 'nope' } })
  raw.socket.destroy()
  const ok = await handshake(b.broker.port('ssl'), { ca: pki.ca.certPem, servername: 'localhost' })
  t.ok(ok.secure)
  const bad = await handshake(b.broker.port('ssl'), { servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })
  t.notOk(bad.secure, 'a TLS 1.1 client is refused')
  const m = await until(async () => {
    const r = (await b.call('/api/v5/metrics?aggregate=true')).json as Record<string, number>
    return r['tls.handshake_failures'] >= 1 ? r : undefined
  }, 'the failed handshake counted')
  t.equal(m['client.connack.refused'], 1)
  t.ok(m['tls.handshakes'] >= 1, 'the good handshake counted')
  const reasons = Object.keys(m).filter((k) => k.startsWith('tls.handshake_failures.'))
  t.equal(reasons.length, 1, `one failure reason: ${reasons.join(', ')}`)
  t.equal(m[reasons[0]!], 1)
})
