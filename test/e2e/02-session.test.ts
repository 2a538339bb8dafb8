// Sessions: clean start and resume, expiry, the offline queue, redelivery, takeover, keepalive,
// idle timeout, and the send window (Receive Maximum, mqtt.max_inflight).
import t from 'tap'
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { collect, connectClient, delay, end, rawMqtt, rawSocket, startBroker, until, within, type RawMqtt } from '../helpers.js'

/** Connects with MQTT.js and returns the client with its CONNACK. */
async function connectWithAck (port: number, opts: IClientOptions): Promise<{ client: MqttClient, ack: IConnackPacket }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts })
  const ack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return { client, ack }
}

/** An MQTT.js client that starts collecting before CONNACK, so a resumed session's queue is not missed. */
function reconnectCollecting (port: number, opts: IClientOptions) {
  const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts })
  return { client, inbox: collect(client) }
}

/** A raw client connected and subscribed; it never acknowledges unless the test does. */
async function rawSubscriber (port: number, version: 4 | 5, clientId: string, filter: string, qos: 1 | 2,
  connect: { clean?: boolean, properties?: Record<string, number> } = {}): Promise<RawMqtt> {
  const raw = await rawMqtt(port, version)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: connect.clean ?? true, keepalive: 0, clientId, ...(connect.properties ? { properties: connect.properties } : {}) })
  await raw.take('connack')
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] })
  await raw.take('suback')
  return raw
}

// Most cases here wait on timers (keepalive, expiry, idle timeout): run them side by side.
t.jobs = 4

const publishes = (raw: RawMqtt) => raw.packets.filter((p): p is IPublishPacket => p.cmd === 'publish')

t.test('MQTT 3.1.1 clean session and session present', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const opts = { clientId: 'persist-v4', clean: false }

  const first = await connectWithAck(b.tcpPort, opts)
  t.equal(first.ack.sessionPresent, false, 'a new session is not present')
  await first.client.subscribeAsync('v4/session', { qos: 1 })
  await end(first.client)

  const second = await connectWithAck(b.tcpPort, opts)
  t.equal(second.ack.sessionPresent, true, 'clean session 0 resumes it')
  const inbox = collect(second.client)
  const pub = await connectClient(b.tcpPort)
  await pub.publishAsync('v4/session', 'kept', { qos: 1 })
  t.equal((await inbox.waitFor(1))[0]!.payload.toString(), 'kept', 'the subscription survived without resubscribing')
  await end(second.client)

  const third = await connectWithAck(b.tcpPort, { clientId: 'persist-v4', clean: true })
  t.equal(third.ack.sessionPresent, false, 'clean session 1 discards it')
  await end(third.client)
  t.notOk(b.broker.core.sessions.get('persist-v4'), 'a clean session does not outlive its connection')
  await end(pub)
})

t.test('MQTT 5 Clean Start and Session Expiry Interval', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())

  const first = await connectWithAck(b.tcpPort, { protocolVersion: 5, clientId: 'persist-v5', clean: true, properties: { sessionExpiryInterval: 60 } })
  t.equal(first.ack.sessionPresent, false)
  await first.client.subscribeAsync('v5/session', { qos: 1 })
  await end(first.client)

  const resumed = await connectWithAck(b.tcpPort, { protocolVersion: 5, clientId: 'persist-v5', clean: false, properties: { sessionExpiryInterval: 60 } })
  t.equal(resumed.ack.sessionPresent, true, 'Clean Start 0 within the expiry resumes')
  await end(resumed.client)

  const fresh = await connectWithAck(b.tcpPort, { protocolVersion: 5, clientId: 'persist-v5', clean: true, properties: { sessionExpiryInterval: 60 } })
  t.equal(fresh.ack.sessionPresent, false, 'Clean Start 1 discards it')
  t.equal(b.broker.core.sessions.get('persist-v5')?.subscriptions.size, 0, 'with its subscriptions')
  await end(fresh.client)

  // Expiry 0 (the default): the session ends with the connection even with Clean Start 0.
  const zero = await connectWithAck(b.tcpPort, { protocolVersion: 5, clientId: 'zero-v5', clean: false })
  await end(zero.client)
  const again = await connectWithAck(b.tcpPort, { protocolVersion: 5, clientId: 'zero-v5', clean: false })
  t.equal(again.ack.sessionPresent, false, 'expiry 0 keeps nothing')
  await end(again.client)
})

t.test('MQTT 5 session expiry: gone after the interval', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const opts = { protocolVersion: 5 as const, clientId: 'expiring', clean: false, properties: { sessionExpiryInterval: 1 } }

  const first = await connectWithAck(b.tcpPort, opts)
  await first.client.subscribeAsync('exp/t', { qos: 1 })
  await end(first.client)
  await delay(300) // a timer under test: some of the 1 s interval passes, with most of it to spare
  const early = await connectWithAck(b.tcpPort, opts)
  t.equal(early.ack.sessionPresent, true, 'present before the interval elapses')
  await end(early.client)

  // The expiry timer fires in its own time: wait (bounded) for the session to go, not for a fixed 1.5 s.
  await until(() => !b.broker.core.sessions.get('expiring'), 'the session to expire', 5000)
  t.notOk(b.broker.core.sessions.get('expiring'), 'the broker dropped the session')
  const late = await connectWithAck(b.tcpPort, opts)
  t.equal(late.ack.sessionPresent, false, 'not present after 1.5 s')
  await end(late.client)
})

t.test('MQTT 3.1.1 persistent sessions expire after mqtt.session_expiry_interval', async (t) => {
  const b = await startBroker({ mqtt: { session_expiry_interval: '1s' } })
  t.teardown(() => b.close())
  const opts = { clientId: 'v4-expiring', clean: false }
  const first = await connectWithAck(b.tcpPort, opts)
  await end(first.client)
  await until(() => !b.broker.core.sessions.get('v4-expiring'), 'the session to expire', 5000)
  const late = await connectWithAck(b.tcpPort, opts)
  t.equal(late.ack.sessionPresent, false, 'gone after the configured interval')
  await end(late.client)
})

t.test('MQTT 5 DISCONNECT setting an expiry after CONNECT set 0 is a protocol error [MQTT-3.14.2-2]', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const w = await connectClient(b.tcpPort, { protocolVersion: 5 })
  t.teardown(() => end(w, true))
  const inbox = collect(w)
  await w.subscribeAsync('proto/will', { qos: 0 })
  const raw = await rawMqtt(b.tcpPort, 5)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'bad-disc', will: { topic: 'proto/will', payload: Buffer.from('kept'), qos: 0, retain: false } })
  await raw.take('connack')
  raw.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } })
  const reply = await raw.take('disconnect')
  t.equal(reply.reasonCode, 0x82, 'DISCONNECT 0x82 Protocol error from the broker')
  t.ok(await within(2000, raw.closed))
  const [msg] = await inbox.waitFor(1)
  t.equal(msg!.payload.toString(), 'kept', 'the will is published, the DISCONNECT was not a normal one')
  t.notOk(b.broker.core.sessions.get('bad-disc'), 'the session did not take the new expiry')
})

t.test('MQTT 5 DISCONNECT can change the Session Expiry Interval', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const opts = { protocolVersion: 5 as const, clientId: 'disc-expiry', clean: false, properties: { sessionExpiryInterval: 60 } }
  const first = await connectWithAck(b.tcpPort, opts)
  await new Promise<void>((resolve) => first.client.end(false, { properties: { sessionExpiryInterval: 0 } }, () => resolve()))
  await until(() => !b.broker.core.sessions.get('disc-expiry'), 'the session to end')
  t.notOk(b.broker.core.sessions.get('disc-expiry'), 'expiry 0 on DISCONNECT ends the session')
})

t.test('offline queue: QoS 1 published while a persistent client is away arrives on reconnect', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const opts = { clientId: 'offline-q', clean: false }
  const sub = await connectClient(b.tcpPort, opts)
  await sub.subscribeAsync('offline/#', { qos: 1 })
  await end(sub)

  const pub = await connectClient(b.tcpPort)
  for (let i = 1; i <= 5; i++) await pub.publishAsync(`offline/${i}`, `m${i}`, { qos: 1 })
  await pub.publishAsync('offline/q0', 'zero', { qos: 0 })
  await until(() => b.broker.core.sessions.get('offline-q')?.queueLength === 6, 'six queued')
  t.pass('queued while offline (QoS 0 too: mqueue_store_qos0)')

  const { client: back, inbox } = reconnectCollecting(b.tcpPort, opts)
  t.teardown(() => end(back, true))
  const got = await inbox.waitFor(6)
  t.same(got.map((m) => m.payload.toString()), ['m1', 'm2', 'm3', 'm4', 'm5', 'zero'], 'in publish order')
  t.same(got.map((m) => m.packet.qos), [1, 1, 1, 1, 1, 0])
  await end(pub)
})

t.test('offline queue: QoS 0 is dropped when mqueue_store_qos0 is false', async (t) => {
  const b = await startBroker({ mqtt: { mqueue_store_qos0: false } })
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { clientId: 'no-q0', clean: false })
  await sub.subscribeAsync('noq0/t', { qos: 1 })
  await end(sub)
  b.broker.publish('noq0/t', 'q0', { qos: 0 })
  b.broker.publish('noq0/t', 'q1', { qos: 1 })
  const { client: back, inbox } = reconnectCollecting(b.tcpPort, { clientId: 'no-q0', clean: false })
  t.teardown(() => end(back, true))
  await inbox.waitFor(1)
  await inbox.probe(b.broker, 'noq0/t') // after the queue: a QoS 0 message queued would be in front of it
  t.same(inbox.messages.map((m) => m.payload.toString()), ['q1'])
})

t.test('mqtt.max_mqueue_len bounds the offline queue, dropping the oldest', async (t) => {
  const b = await startBroker({ mqtt: { max_mqueue_len: 3 } })
  t.teardown(() => b.close())
  const opts = { clientId: 'bounded-q', clean: false }
  const sub = await connectClient(b.tcpPort, opts)
  await sub.subscribeAsync('bounded', { qos: 1 })
  await end(sub)

  const pub = await connectClient(b.tcpPort)
  for (let i = 1; i <= 6; i++) await pub.publishAsync('bounded', `m${i}`, { qos: 1 })
  t.equal(b.broker.core.sessions.get('bounded-q')?.queueLength, 3)

  const { client: back, inbox } = reconnectCollecting(b.tcpPort, opts)
  t.teardown(() => end(back, true))
  await inbox.waitFor(3)
  await inbox.probe(pub, 'bounded') // after the queue: anything more queued would be in front of it
  t.same(inbox.messages.map((m) => m.payload.toString()), ['m4', 'm5', 'm6'], 'the newest three')
  await end(pub)
})

t.test('unacknowledged QoS 1 is redelivered with DUP on reconnect', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const raw = await rawSubscriber(b.tcpPort, 4, 'redeliver-1', 'redeliver/1', 1, { clean: false })
  b.broker.publish('redeliver/1', 'again', { qos: 1 })
  const first = await raw.take('publish')
  t.equal(first.dup, false, 'first delivery without DUP')
  raw.socket.destroy()
  await raw.closed

  const { client, inbox } = reconnectCollecting(b.tcpPort, { clientId: 'redeliver-1', clean: false })
  t.teardown(() => end(client, true))
  const [msg] = await inbox.waitFor(1)
  t.equal(msg!.payload.toString(), 'again')
  t.equal(msg!.packet.dup, true, 'DUP set on the resend [MQTT-3.3.1-1]')
  t.equal(msg!.packet.messageId, first.messageId, 'with the same packet identifier')
  await until(() => b.broker.core.sessions.get('redeliver-1')?.inflight.size === 0, 'the PUBACK to reach the broker')
  t.equal(b.broker.core.sessions.get('redeliver-1')?.inflight.size, 0, 'MQTT.js acknowledged it')
})

t.test('unacknowledged QoS 2 is redelivered: PUBLISH with DUP before PUBREC, PUBREL after it', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())

  // Never sends PUBREC: the PUBLISH comes again with DUP.
  const a = await rawSubscriber(b.tcpPort, 5, 'redeliver-2a', 'redeliver/2a', 2, { properties: { sessionExpiryInterval: 60 } })
  b.broker.publish('redeliver/2a', 'two', { qos: 2 })
  const first = await a.take('publish')
  a.socket.destroy()
  await a.closed
  const a2 = await rawMqtt(b.tcpPort, 5)
  t.teardown(() => a2.socket.destroy())
  a2.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, keepalive: 0, clientId: 'redeliver-2a', properties: { sessionExpiryInterval: 60 } })
  t.equal((await a2.take('connack')).sessionPresent, true)
  const again = await a2.take('publish')
  t.equal(again.dup, true)
  t.equal(again.qos, 2)
  t.equal(again.messageId, first.messageId)
  t.equal(again.payload.toString(), 'two')

  // Sent PUBREC and got PUBREL, then left: on reconnect the broker resends PUBREL, not the PUBLISH.
  const c = await rawSubscriber(b.tcpPort, 4, 'redeliver-2b', 'redeliver/2b', 2, { clean: false })
  b.broker.publish('redeliver/2b', 'rel', { qos: 2 })
  const p = await c.take('publish')
  c.send({ cmd: 'pubrec', messageId: p.messageId! })
  const rel = await c.take('pubrel')
  t.equal(rel.messageId, p.messageId)
  c.socket.destroy()
  await c.closed
  const c2 = await rawMqtt(b.tcpPort, 4)
  t.teardown(() => c2.socket.destroy())
  c2.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 0, clientId: 'redeliver-2b' })
  await c2.take('connack')
  const rel2 = await c2.take('pubrel')
  t.equal(rel2.messageId, p.messageId, 'PUBREL resent')
  await c2.ping() // the session is resent as it is attached, before the broker reads the PINGREQ
  t.equal(publishes(c2).length, 0, 'the PUBLISH is not resent')
  c2.send({ cmd: 'pubcomp', messageId: p.messageId! })
  await until(() => b.broker.core.sessions.get('redeliver-2b')?.inflight.size === 0, 'the PUBCOMP to complete the delivery')
  t.pass('PUBCOMP completes the delivery')
})

t.test('retry_interval resends unacknowledged QoS 1 to MQTT 3 clients, never to MQTT 5 ones [MQTT-4.4.0-1]', async (t) => {
  const b = await startBroker({ mqtt: { retry_interval: '300ms' } })
  t.teardown(() => b.close())
  const v4 = await rawSubscriber(b.tcpPort, 4, 'retry-v4', 'retry/t', 1)
  const v5 = await rawSubscriber(b.tcpPort, 5, 'retry-v5', 'retry/t', 1)
  t.teardown(() => { v4.socket.destroy(); v5.socket.destroy() })
  b.broker.publish('retry/t', 'r', { qos: 1 })
  await v4.take('publish')
  const again = await v4.take('publish', 2000)
  t.equal(again.dup, true, 'MQTT 3.1.1: resent with DUP')
  // The second resend to v4 comes a whole retry interval later: every sweep that could have resent to v5
  // (sent within the same millisecond) has run by then, and wrote before the PINGRESP.
  await v4.take('publish', 2000)
  await v5.ping()
  t.equal(publishes(v5).length, 1, 'MQTT 5: sent once')
  v4.send({ cmd: 'puback', messageId: again.messageId! })
  await v4.ping() // the PUBACK is handled, and what was resent before it has arrived
  const count = publishes(v4).length
  // A timer under test: two retry intervals for the sweep to resend, if it wrongly would.
  await delay(800)
  t.equal(publishes(v4).length, count, 'no resend once acknowledged')
})

t.test('await_rel_timeout: a QoS 2 message whose PUBREL never comes is forgotten, and its packet id carries a new message', async (t) => {
  const b = await startBroker({ mqtt: { await_rel_timeout: '2s' } })
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { clientId: 'rel-sub' })
  t.teardown(() => end(sub))
  const inbox = collect(sub)
  await sub.subscribeAsync('rel/t', { qos: 0 })
  const raw = await rawMqtt(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'rel-pub' })
  await raw.take('connack')
  raw.send({ cmd: 'publish', topic: 'rel/t', payload: Buffer.from('first'), qos: 2, messageId: 7, dup: false, retain: false })
  await raw.take('pubrec')
  await inbox.takePayload('first')
  // The same packet id again, as a client would resend it: a duplicate while the PUBREL is awaited, a new
  // message once await_rel_timeout has dropped the wait.
  let sent = 0
  await until(async () => {
    raw.send({ cmd: 'publish', topic: 'rel/t', payload: Buffer.from(`again ${++sent}`), qos: 2, messageId: 7, dup: true, retain: false })
    await raw.take('pubrec')
    await raw.ping()
    return inbox.messages.length > 0
  }, 'the packet id freed by await_rel_timeout')
  t.ok(sent > 1, `the first resends, within the timeout, were duplicates (${sent} sent)`)
  t.match(inbox.messages[0]!.payload.toString(), /^again \d+$/, 'a resend after the timeout is a new message')
})

t.test('session takeover: the first MQTT 5 connection gets DISCONNECT 0x8E', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const opts = { protocolVersion: 5 as const, clientId: 'taken', clean: false, properties: { sessionExpiryInterval: 60 } }
  const first = await connectClient(b.tcpPort, opts)
  await first.subscribeAsync('takeover/t', { qos: 1 })
  const disconnect = new Promise<number | undefined>((resolve) => first.once('disconnect', (p) => resolve(p.reasonCode)))
  const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))

  const { client: second, ack } = await connectWithAck(b.tcpPort, opts)
  t.teardown(() => end(second, true))
  t.equal(await disconnect, 0x8e, 'DISCONNECT with 0x8E Session taken over')
  t.ok(await within(2000, closed), 'and the first connection is closed')
  t.equal(ack.sessionPresent, true, 'the new connection gets the session')
  t.equal(b.broker.core.clients.get('taken')?.state, 'connected', 'the new connection is the registered one')

  const inbox = collect(second)
  b.broker.publish('takeover/t', 'to-second', { qos: 1 })
  const [msg] = await inbox.waitFor(1)
  t.equal(msg!.payload.toString(), 'to-second', 'the subscription moved with the session')
  first.end(true)
})

t.test('session takeover moves messages in flight: the new connection gets them with DUP', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const first = await rawSubscriber(b.tcpPort, 5, 'taken-inflight', 'takeover/inflight', 1, { properties: { sessionExpiryInterval: 60 } })
  b.broker.publish('takeover/inflight', 'unacked', { qos: 1 })
  const sent = await first.take('publish')
  const { client: second, inbox } = reconnectCollecting(b.tcpPort, { protocolVersion: 5, clientId: 'taken-inflight', clean: false, properties: { sessionExpiryInterval: 60 } })
  t.teardown(() => end(second, true))
  t.equal((await first.take('disconnect')).reasonCode, 0x8e)
  const [msg] = await inbox.waitFor(1)
  t.equal(msg!.payload.toString(), 'unacked')
  t.equal(msg!.packet.dup, true)
  t.equal(msg!.packet.messageId, sent.messageId)
  t.ok(await within(2000, first.closed))
})

t.test('session takeover of an MQTT 3.1.1 connection: it is closed without DISCONNECT', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const first = await rawMqtt(b.tcpPort, 4)
  first.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'taken-v4' })
  await first.take('connack')
  const second = await connectClient(b.tcpPort, { clientId: 'taken-v4' })
  t.teardown(() => end(second, true))
  t.ok(await within(2000, first.closed), 'the first connection is closed')
  t.same(first.packets.map((p) => p.cmd), ['connack'], 'and received nothing after its CONNACK')
  t.ok(second.connected)
})

t.test('keepalive: a silent client is closed after 1.5 × keepalive', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())

  const v4 = await rawMqtt(b.tcpPort, 4)
  const v5 = await rawMqtt(b.tcpPort, 5)
  const start = Date.now()
  v4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 1, clientId: 'ka-v4' })
  v5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 1, clientId: 'ka-v5' })
  await v4.take('connack')
  await v5.take('connack')
  t.ok(await within(4000, Promise.all([v4.closed, v5.closed])), 'both are closed')
  const elapsed = Date.now() - start
  t.ok(elapsed >= 1400, `not before 1.5 s (${elapsed} ms)`)
  t.ok(elapsed <= 3000, `soon after 1.5 s (${elapsed} ms)`)
  const disconnect = v5.packets.find((p) => p.cmd === 'disconnect')
  t.equal(disconnect?.reasonCode, 0x8d, 'MQTT 5 gets DISCONNECT 0x8D Keep alive timeout')
  t.same(v4.packets.map((p) => p.cmd), ['connack'], 'MQTT 3.1.1 gets no DISCONNECT')
})

t.test('keepalive: PINGREQ keeps a client connected', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const raw = await rawMqtt(b.tcpPort, 4)
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 1, clientId: 'ka-ping' })
  await raw.take('connack')
  for (let i = 0; i < 5; i++) {
    await delay(500) // a timer under test: real time passes between PINGREQs
    raw.send({ cmd: 'pingreq' })
    await raw.take('pingresp')
  }
  t.notOk(raw.isClosed(), 'still connected after 2.5 s of PINGREQs every 0.5 s')
})

t.test('server_keepalive overrides the MQTT 5 client keepalive', async (t) => {
  const b = await startBroker({ mqtt: { server_keepalive: '1s' } })
  t.teardown(() => b.close())
  const raw = await rawMqtt(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 600, clientId: 'ska' })
  const ack = await raw.take('connack')
  t.equal(ack.properties?.serverKeepAlive, 1)
  t.ok(await within(4000, raw.closed), 'closed after the server keepalive, not the client one')
  t.equal(raw.packets.find((p) => p.cmd === 'disconnect')?.reasonCode, 0x8d)
})

t.test('idle timeout: a connection without CONNECT is closed after mqtt.idle_timeout', async (t) => {
  const b = await startBroker({ mqtt: { idle_timeout: '500ms' } })
  t.teardown(() => b.close())
  const start = Date.now()
  const { received, closed } = await rawSocket(b.tcpPort)
  t.ok(await within(3000, closed), 'closed')
  const elapsed = Date.now() - start
  t.ok(elapsed >= 450, `not before the timeout (${elapsed} ms)`)
  t.equal(received().length, 0, 'nothing is sent to it')

  // A connection that did CONNECT is not subject to it.
  const client = await connectClient(b.tcpPort, { keepalive: 0 })
  await delay(1200) // a timer under test: more than twice the idle timeout passes
  t.ok(client.connected, 'a connected client stays')
  await end(client)
})

t.test('Receive Maximum: no more than the client allows in flight', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const raw = await rawSubscriber(b.tcpPort, 5, 'recv-max', 'rm/t', 1, { properties: { receiveMaximum: 2 } })
  t.teardown(() => raw.socket.destroy())
  for (let i = 1; i <= 10; i++) b.broker.publish('rm/t', `m${i}`, { qos: 1 })
  await until(() => publishes(raw).length >= 2, 'two PUBLISH packets')
  await raw.ping() // the publishes were routed before it: whatever the window let out has arrived
  t.equal(publishes(raw).length, 2, 'two sent, the rest held')

  let acked = 0
  let maxOutstanding = 0
  const ackLater = (p: IPublishPacket) => setTimeout(() => { acked++; raw.send({ cmd: 'puback', messageId: p.messageId! }) }, 20)
  const handled = new Set<IPublishPacket>()
  const deadline = Date.now() + 5000
  while (acked < 10 && Date.now() < deadline) {
    for (const p of publishes(raw)) {
      if (handled.has(p)) continue
      handled.add(p)
      ackLater(p)
    }
    maxOutstanding = Math.max(maxOutstanding, publishes(raw).length - acked)
    await delay(5) // a bounded poll (the deadline above)
  }
  t.equal(acked, 10, 'all ten arrive once acknowledged')
  t.ok(maxOutstanding <= 2, `never more than 2 unacknowledged (max ${maxOutstanding})`)
  t.same(publishes(raw).map((p) => p.payload.toString()), Array.from({ length: 10 }, (_, i) => `m${i + 1}`), 'in order')
})

t.test('mqtt.max_inflight limits unacknowledged deliveries to an MQTT 3.1.1 client', async (t) => {
  const b = await startBroker({ mqtt: { max_inflight: 3 } })
  t.teardown(() => b.close())
  const raw = await rawSubscriber(b.tcpPort, 4, 'inflight', 'if/t', 1)
  t.teardown(() => raw.socket.destroy())
  for (let i = 1; i <= 10; i++) b.broker.publish('if/t', `m${i}`, { qos: 1 })
  await until(() => publishes(raw).length >= 3, 'three PUBLISH packets')
  await raw.ping() // the publishes were routed before it: whatever the window let out has arrived
  t.equal(publishes(raw).length, 3, 'three in flight')
  for (let n = 0; n < 10; n++) {
    await until(() => publishes(raw).length > n, `PUBLISH ${n + 1}`)
    raw.send({ cmd: 'puback', messageId: publishes(raw)[n]!.messageId! })
  }
  t.equal(publishes(raw).length, 10, 'all ten arrive as they are acknowledged')

  // An MQTT 5 client asking for more than max_inflight still gets only max_inflight.
  const v5 = await rawSubscriber(b.tcpPort, 5, 'inflight-v5', 'if5/t', 1, { properties: { receiveMaximum: 50 } })
  t.teardown(() => v5.socket.destroy())
  for (let i = 1; i <= 10; i++) b.broker.publish('if5/t', `m${i}`, { qos: 1 })
  await until(() => publishes(v5).length >= 3, 'three PUBLISH packets')
  await v5.ping() // the publishes were routed before it: whatever the window let out has arrived
  t.equal(publishes(v5).length, 3, 'the smaller of Receive Maximum and max_inflight')
})
