// /api/v5/listeners: the list with state and counts, one by id, and stop / start / restart acting on
// real connections.
import { connect as netConnect } from 'node:net'
import t from 'tap'
import { connectClient, end, within } from '../helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

t.test('list and one listener: id, type, name, bind, running, connection counts', async (t) => {
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: { listeners: { tcp: { default: { bind: '127.0.0.1:0', max_connections: 10 } }, ws: { default: { bind: '127.0.0.1:0' } } } },
  })
  const client = await connectClient(b.tcpPort, { clientId: 'l-1' })
  t.teardown(() => end(client, true))

  const list = await b.call('/api/v5/listeners')
  t.equal(list.status, 200)
  t.same(list.json.map((l: { id: string }) => l.id), ['tcp:default', 'ws:default'])
  const tcp = list.json[0]
  t.match(tcp, { id: 'tcp:default', type: 'tcp', name: 'default', enable: true, bind: `127.0.0.1:${b.tcpPort}`, running: true, current_connections: 1, max_connections: 10 })
  t.same(tcp.status, { running: true, current_connections: 1, max_connections: 10 })
  t.equal(list.json[1].max_connections, 'infinity')

  const one = await b.call('/api/v5/listeners/ws:default')
  t.equal(one.json.id, 'ws:default')
  t.equal(one.json.bind, `127.0.0.1:${b.wsPort}`)
  const missing = await b.call('/api/v5/listeners/tcp:nope')
  t.equal(missing.status, 404)
  t.equal(missing.json.code, 'BAD_LISTENER_ID')
  t.equal((await b.call('/api/v5/listeners/tcp:nope/stop', { method: 'POST' })).status, 404)
})

t.test('stop refuses connections and disconnects clients (0x98), start and restart bring it back', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const port = b.tcpPort
  const v5 = await connectClient(port, { clientId: 'l-v5', protocolVersion: 5 })
  v5.on('error', () => {})
  t.teardown(() => end(v5, true))
  const disconnect = new Promise<number | undefined>((resolve) => v5.once('disconnect', (p) => resolve(p.reasonCode)))

  const stopped = await b.call('/api/v5/listeners/tcp:default/stop', { method: 'POST' })
  t.equal(stopped.status, 200)
  t.match(stopped.json, { running: false, current_connections: 0, bind: `127.0.0.1:0` }, 'stopped: the configured bind is shown')
  t.equal(await disconnect, 0x98, 'the MQTT 5 client got DISCONNECT 0x98 Administrative action')
  t.notOk(b.broker.core.clients.has('l-v5'), 'and is gone')
  const refused = await new Promise<string | undefined>((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve('connected') })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code))
  })
  t.equal(refused, 'ECONNREFUSED', 'a stopped listener refuses connections')
  t.equal((await b.call('/api/v5/listeners/tcp:default')).json.running, false)
  t.equal((await b.call('/api/v5/listeners/ws:default')).json.running, true, 'the other listener runs on')

  // Port 0 was configured: start binds a new port, which the API reports.
  const started = await b.call('/api/v5/listeners/tcp:default/start', { method: 'POST' })
  t.equal(started.status, 200)
  t.equal(started.json.running, true)
  const newPort = b.broker.port('tcp')
  t.equal(started.json.bind, `127.0.0.1:${newPort}`)
  const again = await connectClient(newPort, { clientId: 'l-again', protocolVersion: 5 })
  again.on('error', () => {})
  t.ok(again.connected, 'a client connects after start')
  t.equal((await b.call('/api/v5/listeners/tcp:default/start', { method: 'POST' })).json.running, true, 'start on a running listener is a no-op')
  t.equal(b.broker.port('tcp'), newPort, 'and keeps its port')

  const closed = new Promise<void>((resolve) => again.once('close', () => resolve()))
  const restarted = await b.call('/api/v5/listeners/tcp:default/restart', { method: 'POST' })
  t.equal(restarted.status, 200)
  t.equal(restarted.json.running, true)
  t.ok(await within(2000, closed), 'restart drops the listener\'s clients')
  const after = await connectClient(b.broker.port('tcp'), { clientId: 'l-after' })
  t.teardown(() => end(after, true))
  t.ok(after.connected, 'and accepts new ones')
  await until(async () => (await b.call('/api/v5/listeners/tcp:default')).json.current_connections === 1, 'one connection counted')
})
