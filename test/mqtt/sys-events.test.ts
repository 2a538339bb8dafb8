// sys_topics.sys_event_messages: JSON event messages under $SYS/brokers/<node>/clients/<clientid>/... with
// EMQX's fields, only for the events turned on; a hostile client id stays inside one topic level.
import t, { type Test } from 'tap'
import { tempDir } from '../api/api-helpers.js'
import { collect, connectClient, connectOwned, end, startBroker } from '../helpers.js'

type Events = { client_connected?: boolean, client_disconnected?: boolean, client_subscribed?: boolean, client_unsubscribed?: boolean }

async function broker (t: Test, events: Events) {
  const b = await startBroker({
    node: { name: 'n1@127.0.0.1', data_dir: await tempDir(t, 'culex-sysev-') },
    sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled', sys_event_messages: events },
  })
  t.teardown(() => b.close())
  return b
}

const json = (payload: Buffer) => JSON.parse(payload.toString()) as Record<string, unknown>

t.test('connected, subscribed, unsubscribed and disconnected events carry EMQX\'s fields', async (t) => {
  const b = await broker(t, { client_connected: true, client_disconnected: true, client_subscribed: true, client_unsubscribed: true })
  const watcher = await connectOwned(t, b.tcpPort, { clientId: 'watcher' })
  const got = collect(watcher)
  await watcher.subscribeAsync('$SYS/brokers/+/clients/#')
  // The watcher's own subscription is an event too: the subscription is in place before it is published.
  const own = await got.waitFor(1, 5000)
  t.equal(own[0]!.topic, '$SYS/brokers/n1@127.0.0.1/clients/watcher/subscribed')
  t.match(json(own[0]!.payload), { clientid: 'watcher', topic: '$SYS/brokers/+/clients/#' })
  got.messages.length = 0

  const before = Date.now()
  const c = await connectClient(b.tcpPort, { clientId: 'dev1', username: 'u1', keepalive: 42, protocolVersion: 5, properties: { sessionExpiryInterval: 30 } })
  let seen = await got.waitFor(1, 5000)
  t.equal(seen[0]!.topic, '$SYS/brokers/n1@127.0.0.1/clients/dev1/connected')
  const connected = json(seen[0]!.payload)
  t.match(connected, {
    clientid: 'dev1', username: 'u1', ipaddress: '127.0.0.1', sockport: b.tcpPort, protocol: 'mqtt', proto_name: 'MQTT', proto_ver: 5,
    keepalive: 42, clean_start: true, expiry_interval: 30, receive_maximum: Number,
  })
  t.ok((connected.connected_at as number) >= before && (connected.ts as number) >= before, 'connected_at and ts are epoch ms')

  await c.subscribeAsync('s/+/x', { qos: 1, nl: true })
  seen = await got.waitFor(2, 5000)
  t.equal(seen[1]!.topic, '$SYS/brokers/n1@127.0.0.1/clients/dev1/subscribed')
  t.match(json(seen[1]!.payload), { clientid: 'dev1', username: 'u1', protocol: 'mqtt', topic: 's/+/x', subopts: { qos: 1, nl: 1, rap: 0, rh: 0 }, ts: Number })

  await c.unsubscribeAsync('s/+/x')
  seen = await got.waitFor(3, 5000)
  t.equal(seen[2]!.topic, '$SYS/brokers/n1@127.0.0.1/clients/dev1/unsubscribed')
  t.match(json(seen[2]!.payload), { clientid: 'dev1', topic: 's/+/x', ts: Number })

  await end(c)
  seen = await got.waitFor(4, 5000)
  t.equal(seen[3]!.topic, '$SYS/brokers/n1@127.0.0.1/clients/dev1/disconnected')
  const disconnected = json(seen[3]!.payload)
  t.match(disconnected, { clientid: 'dev1', username: 'u1', reason: 'normal', proto_ver: 5, connected_at: connected.connected_at })
  t.ok((disconnected.disconnected_at as number) >= (connected.connected_at as number))
})

t.test('a disabled event is not published; the defaults publish connected and disconnected only', async (t) => {
  const b = await broker(t, { client_connected: false })
  const watcher = await connectOwned(t, b.tcpPort, { clientId: 'watcher' })
  const got = collect(watcher)
  await watcher.subscribeAsync('$SYS/brokers/+/clients/#')
  const c = await connectClient(b.tcpPort, { clientId: 'quiet' })
  await c.subscribeAsync('a/b')
  await c.unsubscribeAsync('a/b')
  await end(c)
  // The disconnected event comes after everything the client did: what came before it is all there is.
  const seen = await got.waitFor(1, 5000)
  t.same(seen.map((m) => m.topic), ['$SYS/brokers/n1@127.0.0.1/clients/quiet/disconnected'],
    'no connected event (turned off), no subscribed/unsubscribed events (off by default)')
  t.equal(json(seen[0]!.payload).clientid, 'quiet')
})

t.test('a client id with /, +, # or control characters stays one topic level', async (t) => {
  const b = await broker(t, { client_connected: true, client_disconnected: false })
  const watcher = await connectOwned(t, b.tcpPort, { clientId: 'watcher' })
  const victim = collect(watcher)
  // Another client's own event topic, and the level-by-level shape of every event topic.
  await watcher.subscribeAsync(['$SYS/brokers/+/clients/victim/#', '$SYS/brokers/+/clients/+/connected'])
  const hostile = ['victim/connected', 'a+#b', 'x%2Fy', 'plain-ü']
  for (const id of hostile) await connectOwned(t, b.tcpPort, { clientId: id })
  const seen = await victim.waitFor(hostile.length, 5000)
  t.same(seen.map((m) => m.topic), [
    '$SYS/brokers/n1@127.0.0.1/clients/victim%2Fconnected/connected',
    '$SYS/brokers/n1@127.0.0.1/clients/a%2B%23b/connected',
    '$SYS/brokers/n1@127.0.0.1/clients/x%252Fy/connected',
    '$SYS/brokers/n1@127.0.0.1/clients/plain-ü/connected',
  ], 'percent-encoded, each under clients/+/connected and none under clients/victim/; other ids as they are')
  t.same(seen.map((m) => json(m.payload).clientid), hostile, 'the payload has the client id as it is')
  // Control characters never reach a topic: CONNECT refuses such an id (0x85 / MQTT 3.1.1 code 2).
  await t.rejects(connectClient(b.tcpPort, { clientId: 'tab\there' }), { code: 2 })
  t.equal(victim.messages.length, hostile.length, 'no event for the refused client')
})

t.test('events reach a shared subscription under $SYS, and start once a $SYS filter is subscribed', async (t) => {
  const b = await broker(t, { client_connected: true })
  const watcher = await connectOwned(t, b.tcpPort, { clientId: 'watcher' })
  const got = collect(watcher)
  // Before any filter under $SYS the events are skipped; a shared one must turn them on.
  const early = await connectClient(b.tcpPort, { clientId: 'early' })
  await end(early)
  await watcher.subscribeAsync('$share/g/$SYS/brokers/+/clients/+/connected')
  const c = await connectClient(b.tcpPort, { clientId: 'late' })
  const seen = await got.waitFor(1, 5000)
  t.equal(seen[0]!.topic, '$SYS/brokers/n1@127.0.0.1/clients/late/connected', 'the first event is the connect after the subscription')
  t.match(json(seen[0]!.payload), { clientid: 'late' })
  await end(c)
})
