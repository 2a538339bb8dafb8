// /api/v5/clients: EMQX's fields and filters, paging, details (TLS ones for an ssl client with a
// certificate), kept sessions, and the kick (DISCONNECT 0x98, gone from the list).
import t from 'tap'
import { connectClient, end, within } from '../helpers.js'
import { basePki, mqttTry, pkiDir, sslOptions } from '../listeners/tls-helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

t.test('list with filters and paging, and one client\'s details', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const a = await connectClient(b.tcpPort, { clientId: 'sensor-a', username: 'alice', protocolVersion: 5, keepalive: 30, clean: true })
  const c = await connectClient(b.tcpPort, { clientId: 'sensor-b', username: 'bob', keepalive: 0 })
  const d = await connectClient(b.wsPort, { clientId: 'panel-1', protocol: 'ws', path: '/mqtt' })
  t.teardown(() => Promise.all([a, c, d].map((x) => end(x, true))))
  await a.subscribeAsync(['x/1', 'x/2'], { qos: 1 })

  const ids = async (query: string) => {
    const r = await b.call(`/api/v5/clients${query}`)
    t.equal(r.status, 200, query)
    return (r.json.data as { clientid: string }[]).map((x) => x.clientid).sort()
  }
  t.same(await ids(''), ['panel-1', 'sensor-a', 'sensor-b'])
  t.same(await ids('?clientid=sensor-a'), ['sensor-a'])
  t.same(await ids('?clientid=sensor-a&clientid=panel-1'), ['panel-1', 'sensor-a'], 'clientid repeats')
  t.same(await ids('?username=bob'), ['sensor-b'])
  t.same(await ids('?like_clientid=sensor'), ['sensor-a', 'sensor-b'])
  t.same(await ids('?like_username=li'), ['sensor-a'])
  t.same(await ids('?listener=ws:default'), ['panel-1'])
  t.same(await ids('?ip_address=127.0.0.1&listener=tcp:default'), ['sensor-a', 'sensor-b'])
  t.same(await ids('?ip_address=10.0.0.1'), [])
  t.same(await ids('?proto_ver=5'), ['sensor-a'])

  const page2 = await b.call('/api/v5/clients?limit=2&page=2')
  t.same(page2.json.meta, { page: 2, limit: 2, count: 3, hasnext: false })
  t.equal(page2.json.data.length, 1)
  t.equal((await b.call('/api/v5/clients?limit=2')).json.meta.hasnext, true)
  t.equal((await b.call('/api/v5/clients?page=0')).json.code, 'BAD_REQUEST', 'page starts at 1')

  const one = await b.call('/api/v5/clients/sensor-a')
  t.equal(one.status, 200)
  t.match(one.json, {
    clientid: 'sensor-a', username: 'alice', connected: true, ip_address: '127.0.0.1', port: Number, listener: 'tcp:default',
    proto_name: 'MQTT', proto_ver: 5, keepalive: 30, clean_start: true, expiry_interval: 0, subscriptions_cnt: 2,
    inflight_cnt: 0, mqueue_len: 0, is_ssl: false, tls_version: null, sni: null, cert_subject: null, node: 'culex@127.0.0.1',
  })
  t.equal(one.json.port, (a.stream as unknown as { localPort: number }).localPort, 'port is the client\'s own')
  t.ok(Math.abs(Date.parse(one.json.connected_at) - Date.now()) < 10_000, `connected_at is RFC 3339 and recent (${one.json.connected_at})`)
  t.match((await b.call('/api/v5/clients/sensor-b')).json, { proto_ver: 4, keepalive: 0, subscriptions_cnt: 0 })
  const missing = await b.call('/api/v5/clients/nobody')
  t.equal(missing.status, 404)
  t.equal(missing.json.code, 'CLIENTID_NOT_FOUND')
})

t.test('a client on an ssl listener shows its TLS version, cipher, SNI and certificate', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir, 'ec256', 'device-7')
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: sslOptions(pki, { verify: 'verify_peer' }) } },
      },
    },
  })
  const conn = await mqttTry(b.broker.port('ssl'), {
    clientId: 'tls-dev', ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost',
  }, t)
  t.ok(conn.client, `connected over TLS (${String(conn.error ?? '')})`)
  const r = await b.call('/api/v5/clients/tls-dev')
  t.match(r.json, {
    listener: 'ssl:default', is_ssl: true, tls_version: 'TLSv1.3', tls_cipher: /^TLS_/, sni: 'localhost',
    cert_common_name: 'device-7', cert_subject: /CN=device-7/,
  })
  t.same((await b.call('/api/v5/clients?listener=ssl:default')).json.data.map((x: { clientid: string }) => x.clientid), ['tls-dev'])
})

t.test('kick: DISCONNECT 0x98, gone from the list, its session discarded', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const v5 = await connectClient(b.tcpPort, { clientId: 'kick-me', protocolVersion: 5, properties: { sessionExpiryInterval: 600 }, clean: false })
  v5.on('error', () => {})
  t.teardown(() => end(v5, true))
  const disconnect = new Promise<number | undefined>((resolve) => v5.once('disconnect', (p) => resolve(p.reasonCode)))
  const closed = new Promise<void>((resolve) => v5.once('close', () => resolve()))

  const r = await b.call('/api/v5/clients/kick-me', { method: 'DELETE' })
  t.equal(r.status, 204)
  t.equal(r.text, '')
  t.equal(await disconnect, 0x98, 'DISCONNECT 0x98 Administrative action')
  t.ok(await within(2000, closed), 'the connection closes')
  t.equal((await b.call('/api/v5/clients/kick-me')).status, 404, 'gone, session included')
  t.equal((await b.call('/api/v5/clients')).json.meta.count, 0)
  t.equal((await b.call('/api/v5/clients/kick-me', { method: 'DELETE' })).status, 404, 'a second kick is 404')
})

t.test('a kept session is listed as disconnected; kicking it discards it', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const c = await connectClient(b.tcpPort, { clientId: 'away', clean: false })
  await c.subscribeAsync('away/#', { qos: 1 })
  await end(c)
  await until(() => !b.broker.core.clients.has('away'), 'the client left')
  const r = await b.call('/api/v5/clients?conn_state=disconnected')
  t.equal(r.json.data.length, 1)
  t.match(r.json.data[0], { clientid: 'away', connected: false, subscriptions_cnt: 1, ip_address: null })
  t.equal((await b.call('/api/v5/clients?conn_state=connected')).json.data.length, 0)
  t.equal((await b.call('/api/v5/clients/away', { method: 'DELETE' })).status, 204)
  t.equal(b.broker.core.sessions.get('away'), undefined, 'the session is gone')
})
