// Session Expiry and Will Delay Intervals past setTimeout's range (2^31-1 ms, ~24.8 days; MQTT allows
// 2^32-1 s): a timer clamped to that bound ended a session early, and one passed unclamped fires after
// 1 ms (issue 15, item 17). Node's mock clock (node:test MockTimers, setTimeout only) stands in for the
// weeks: the broker, its sockets and the clients are real.
import { mock } from 'node:test'
import t from 'tap'
import { collect, connectClient, connectCollecting, end, rawConnect, startBroker } from '../helpers.js'
import { MAX_TIMEOUT_MS } from '../../src/mqtt/long-timeout.js'

const DAY_S = 86_400
const config = { mqtt: { session_expiry_interval: '3650d' } }

/** Yields to the event loop until `fn` is true; setImmediate, so that it works while setTimeout is mocked. */
async function until (fn: () => boolean, what: string): Promise<void> {
  for (let i = 0; !fn(); i++) {
    if (i > 100_000) throw new Error(`gave up waiting until ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

t.test('a session expiring after 30 days outlives the 24.8-day mark and ends at 30 days', async (t) => {
  const b = await startBroker(config)
  t.teardown(() => b.close())
  const sessions = b.broker.core.sessions
  const month = await rawConnect(b.tcpPort, 5, { clientId: 'month', clean: false, properties: { sessionExpiryInterval: 30 * DAY_S } })
  const decade = await rawConnect(b.tcpPort, 5, { clientId: 'decade', clean: false, properties: { sessionExpiryInterval: 3650 * DAY_S } })
  mock.timers.enable({ apis: ['setTimeout'] })
  t.teardown(() => mock.timers.reset())
  month.raw.socket.destroy()
  decade.raw.socket.destroy()
  await until(() => !b.broker.core.clients.has('month') && !b.broker.core.clients.has('decade'), 'both clients are gone')

  mock.timers.tick(MAX_TIMEOUT_MS)
  t.ok(sessions.get('month'), 'the 30-day session is there after 2^31-1 ms')
  t.ok(sessions.get('decade'), 'the 10-year session is there after 2^31-1 ms')
  mock.timers.tick(30 * DAY_S * 1000 - MAX_TIMEOUT_MS - 1)
  t.ok(sessions.get('month'), 'the 30-day session is there 1 ms before 30 days')
  mock.timers.tick(1)
  t.notOk(sessions.get('month'), 'the 30-day session ended at 30 days')
  t.ok(sessions.get('decade'), 'the 10-year session is still there')
  mock.timers.reset()

  const { client, sessionPresent } = await connectCollecting(b.tcpPort, { clientId: 'decade', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3650 * DAY_S } })
  t.teardown(() => end(client, true))
  t.ok(sessionPresent, 'the 10-year session resumes: CONNACK Session Present')
})

t.test('a session restored from the store with more than 24.8 days left is not ended early', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = await mkdtemp(join(tmpdir(), 'culex-expiry-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const durable = { ...config, node: { data_dir: dir }, durable_storage: { backend: 'lmdb' } }
  const first = await startBroker(durable)
  const c = await connectClient(first.tcpPort, { clientId: 'kept', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 * DAY_S } })
  await end(c)
  await first.close()

  mock.timers.enable({ apis: ['setTimeout'] })
  t.teardown(() => mock.timers.reset())
  const second = await startBroker(durable)
  t.teardown(() => second.close())
  mock.timers.tick(MAX_TIMEOUT_MS)
  t.ok(second.broker.core.sessions.get('kept'), 'the restored 60-day session is there after 2^31-1 ms')
  mock.timers.reset()
})

t.test('a will delayed 30 days is not sent at once', async (t) => {
  const b = await startBroker(config)
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { clientId: 'watcher', protocolVersion: 5 })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('will/#', { qos: 1 })
  const { raw } = await rawConnect(b.tcpPort, 5, {
    clientId: 'delayed',
    clean: false,
    properties: { sessionExpiryInterval: 30 * DAY_S },
    will: { topic: 'will/delayed', payload: Buffer.from('too soon'), qos: 1, retain: false, properties: { willDelayInterval: 30 * DAY_S } },
  })
  raw.socket.destroy()
  // Gone: a will sent at once would have been routed then, ahead of the marker.
  await until(() => !b.broker.core.clients.has('delayed'), 'the client is gone')
  const pub = await connectClient(b.tcpPort, { clientId: 'marker', protocolVersion: 5 })
  t.teardown(() => end(pub, true))
  await pub.publishAsync('will/marker', 'marker', { qos: 1 })
  await got.waitFor(1)
  t.same(got.messages.map((m) => m.topic), ['will/marker'], 'only the marker arrived: the will waits its 30 days')
})
