// Will messages: when they are sent and when not, Will Delay Interval, properties, retain, shutdown.
import t from 'tap'
import type { IClientOptions, MqttClient } from 'mqtt'
import type { Message } from '../../src/index.js'
import { collect, connectClient, delay, end, rawMqtt, startBroker, until, within } from '../helpers.js'

// Several cases wait on will delays: run them side by side.
t.jobs = 4

/** A subscriber on `topic` that records what it gets. */
async function watcher (port: number, topic: string, opts: IClientOptions = {}) {
  const client = await connectClient(port, { protocolVersion: 5, ...opts })
  const inbox = collect(client)
  await client.subscribeAsync(topic, { qos: 1 })
  return { client, inbox }
}

function willClient (port: number, opts: IClientOptions): Promise<MqttClient> {
  return connectClient(port, { protocolVersion: 5, keepalive: 0, ...opts })
}

/** Kills the client's socket without DISCONNECT, as a network failure would. */
function drop (client: MqttClient): void {
  client.options.reconnectPeriod = 0
  client.stream.destroy()
}

t.test('will is published when the connection drops without DISCONNECT', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/drop')
  t.teardown(() => end(w.client, true))
  for (const protocolVersion of [3, 4, 5] as const) {
    const c = await willClient(b.tcpPort, {
      protocolVersion,
      ...(protocolVersion === 3 ? { protocolId: 'MQIsdp' } : {}),
      clientId: `dropper-${protocolVersion}`,
      will: { topic: 'will/drop', payload: Buffer.from(`gone-${protocolVersion}`), qos: 1, retain: false },
    })
    drop(c)
  }
  const got = await w.inbox.waitFor(3)
  t.same(got.map((m) => m.payload.toString()).sort(), ['gone-3', 'gone-4', 'gone-5'], 'MQTT 3.1, 3.1.1 and 5 wills')
  t.same(got.map((m) => m.packet.qos), [1, 1, 1], 'at the will QoS')
})

t.test('no will on a normal DISCONNECT', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/normal')
  t.teardown(() => end(w.client, true))
  const v5 = await willClient(b.tcpPort, { clientId: 'polite-5', will: { topic: 'will/normal', payload: Buffer.from('no'), qos: 0, retain: false } })
  const v4 = await willClient(b.tcpPort, { protocolVersion: 4, clientId: 'polite-4', will: { topic: 'will/normal', payload: Buffer.from('no'), qos: 0, retain: false } })
  await end(v5)
  await end(v4)
  // Once the broker has let both go, a will it sent would be routed ahead of the marker.
  await until(() => !b.broker.core.clients.has('polite-5') && !b.broker.core.clients.has('polite-4'), 'both clients gone')
  b.broker.publish('will/normal', 'marker', { qos: 1 })
  await w.inbox.waitFor(1)
  t.same(w.inbox.messages.map((m) => m.payload.toString()), ['marker'], 'only the marker arrives')
})

t.test('will is published on MQTT 5 DISCONNECT with reason 0x04', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/04')
  t.teardown(() => end(w.client, true))
  const c = await willClient(b.tcpPort, { clientId: 'with-will', will: { topic: 'will/04', payload: Buffer.from('asked'), qos: 0, retain: false } })
  await new Promise<void>((resolve) => c.end(false, { reasonCode: 0x04 }, () => resolve()))
  const [msg] = await w.inbox.waitFor(1)
  t.equal(msg!.payload.toString(), 'asked')
})

t.test('will is published when the keepalive expires', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/ka')
  t.teardown(() => end(w.client, true))
  const raw = await rawMqtt(b.tcpPort, 4)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 1, clientId: 'silent', will: { topic: 'will/ka', payload: Buffer.from('timed out'), qos: 0, retain: false } })
  await raw.take('connack')
  const [msg] = await w.inbox.waitFor(1, 4000)
  t.equal(msg!.payload.toString(), 'timed out')
  t.ok(raw.isClosed() || await within(1000, raw.closed), 'the silent client was closed')
})

t.test('Will Delay Interval delays the will', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/delay')
  t.teardown(() => end(w.client, true))
  const c = await willClient(b.tcpPort, {
    clientId: 'delayed',
    properties: { sessionExpiryInterval: 60 },
    will: { topic: 'will/delay', payload: Buffer.from('late'), qos: 0, retain: false, properties: { willDelayInterval: 1 } },
  })
  const start = Date.now()
  drop(c)
  // A timer under test. It cannot end late relative to the will's: both run in this process, and this one
  // started first and is the shorter, so it fires first however loaded the machine is.
  await delay(500)
  t.equal(w.inbox.messages.length, 0, 'nothing after 0.5 s')
  const [msg] = await w.inbox.waitFor(1, 3000)
  const elapsed = Date.now() - start
  t.equal(msg!.payload.toString(), 'late')
  t.ok(elapsed >= 900, `sent after the delay (${elapsed} ms)`)
})

t.test('Will Delay Interval: reconnecting within the delay cancels the will [MQTT-3.1.3-9]', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/cancel')
  t.teardown(() => end(w.client, true))
  const opts: IClientOptions = {
    clientId: 'comes-back',
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: { topic: 'will/cancel', payload: Buffer.from('should not'), qos: 0, retain: false, properties: { willDelayInterval: 1 } },
  }
  drop(await willClient(b.tcpPort, opts))
  // Reconnect once the broker saw the drop (the will delay running), not as a takeover.
  await until(() => !b.broker.core.clients.has('comes-back'), 'the drop seen')
  const back = await willClient(b.tcpPort, { ...opts, will: undefined })
  t.teardown(() => end(back, true))
  // A timer under test: past the 1 s will delay. Its timer (in this process, armed earlier and shorter)
  // has fired by then, and a will it sent would be routed ahead of the marker.
  await delay(1300)
  b.broker.publish('will/cancel', 'marker', { qos: 1 })
  await w.inbox.waitFor(1)
  t.same(w.inbox.messages.map((m) => m.payload.toString()), ['marker'], 'the will was not sent')
})

t.test('will delay larger than the session expiry: sent when the session ends', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/expiry')
  t.teardown(() => end(w.client, true))
  const c = await willClient(b.tcpPort, {
    clientId: 'short-session',
    properties: { sessionExpiryInterval: 1 },
    will: { topic: 'will/expiry', payload: Buffer.from('session over'), qos: 0, retain: false, properties: { willDelayInterval: 30 } },
  })
  const start = Date.now()
  drop(c)
  const [msg] = await w.inbox.waitFor(1, 3000)
  const elapsed = Date.now() - start
  t.equal(msg!.payload.toString(), 'session over')
  t.ok(elapsed >= 900, `not before the session expiry (${elapsed} ms)`)
  t.ok(elapsed < 3000, 'long before the will delay')
})

t.test('will properties reach an MQTT 5 subscriber', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/props')
  t.teardown(() => end(w.client, true))
  const c = await willClient(b.tcpPort, {
    clientId: 'props',
    will: {
      topic: 'will/props',
      payload: Buffer.from('{"state":"offline"}'),
      qos: 1,
      retain: false,
      properties: {
        contentType: 'application/json',
        payloadFormatIndicator: true,
        responseTopic: 'will/reply',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: { site: 'north', rack: '7' },
        messageExpiryInterval: 120,
      },
    },
  })
  drop(c)
  const [msg] = await w.inbox.waitFor(1)
  const p = msg!.packet.properties ?? {}
  t.equal(p.contentType, 'application/json')
  t.equal(p.payloadFormatIndicator, true)
  t.equal(p.responseTopic, 'will/reply')
  t.same([...(p.correlationData ?? [])], [1, 2, 3])
  t.same(p.userProperties, { site: 'north', rack: '7' })
  t.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 120 && p.messageExpiryInterval > 100, 'Message Expiry Interval passed on')
  t.equal((p as Record<string, unknown>).willDelayInterval, undefined, 'Will Delay Interval is not a PUBLISH property')
})

t.test('will with retain is stored as a retained message', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const c = await willClient(b.tcpPort, { clientId: 'retainer', will: { topic: 'will/retained', payload: Buffer.from('last words'), qos: 1, retain: true } })
  drop(c)
  await until(() => b.broker.core.retained.get('will/retained'), 'the retained will')
  t.equal(b.broker.core.retained.get('will/retained')?.payload.toString(), 'last words')

  const late = await watcher(b.tcpPort, 'will/retained')
  t.teardown(() => end(late.client, true))
  const [msg] = await late.inbox.waitFor(1)
  t.equal(msg!.payload.toString(), 'last words', 'a later subscriber gets it')
  t.equal(msg!.packet.retain, true, 'with RETAIN set')
})

t.test('will of a taken-over connection is published (delay 0)', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await watcher(b.tcpPort, 'will/takeover')
  t.teardown(() => end(w.client, true))
  const first = await willClient(b.tcpPort, { clientId: 'twice', will: { topic: 'will/takeover', payload: Buffer.from('replaced'), qos: 0, retain: false } })
  first.on('error', () => {})
  const second = await willClient(b.tcpPort, { clientId: 'twice' })
  t.teardown(() => end(second, true))
  const [msg] = await w.inbox.waitFor(1)
  t.equal(msg!.payload.toString(), 'replaced')
  first.end(true)
})

t.test('broker.close() publishes the wills of connected clients and pending delayed wills', async (t) => {
  const b = await startBroker()
  let closed = false
  t.teardown(() => closed ? undefined : b.close())
  const published: Message[] = []
  b.broker.addHook('published', (m) => { published.push(m) })

  const connected = await willClient(b.tcpPort, {
    protocolVersion: 4,
    clientId: 'online',
    will: { topic: 'will/shutdown/online', payload: Buffer.from('broker went away'), qos: 1, retain: true },
  })
  connected.on('error', () => {})
  const delayed = await willClient(b.tcpPort, {
    clientId: 'pending',
    properties: { sessionExpiryInterval: 60 },
    will: { topic: 'will/shutdown/pending', payload: Buffer.from('delayed'), qos: 1, retain: true, properties: { willDelayInterval: 60 } },
  })
  drop(delayed)
  await until(() => !b.broker.core.clients.has('pending'), 'the drop seen')
  t.notOk(b.broker.core.retained.get('will/shutdown/pending'), 'the delayed will is still pending')

  await b.close()
  closed = true
  t.equal(b.broker.core.retained.get('will/shutdown/online')?.payload.toString(), 'broker went away', 'a connected client\'s will')
  t.equal(b.broker.core.retained.get('will/shutdown/pending')?.payload.toString(), 'delayed', 'a pending delayed will')
  t.same(published.map((m) => m.topic).sort(), ['will/shutdown/online', 'will/shutdown/pending'], 'each published once')
  connected.end(true)
})

t.test('broker.close() does not publish the will of a client that disconnected normally', async (t) => {
  const b = await startBroker()
  const published: string[] = []
  b.broker.addHook('published', (m) => { published.push(m.topic) })
  const c = await willClient(b.tcpPort, { clientId: 'gone', properties: { sessionExpiryInterval: 60 }, will: { topic: 'will/none', payload: Buffer.from('x'), qos: 0, retain: false } })
  await end(c)
  await b.close()
  t.same(published, [])
})
