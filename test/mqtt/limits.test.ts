// EMQX-style limits and overload protection over real sockets: max_conn_rate, messages_rate and
// bytes_rate, slow consumers (mqtt.max_write_buffer, force_shutdown), overload_protection's memory mark,
// idle sockets that never send CONNECT, stalled TLS handshakes, and max_topic_levels on the wire.
import t from 'tap'
import type { IPublishPacket } from 'mqtt-packet'
import { parseRate } from '../../src/config/types.js'
import { collect, connectClient, delay, end, floodUntilSlowConsumerCut, rawConnect, rawSocket, startBroker, within, type TestBroker } from '../helpers.js'
import { basePki, mqttTry, pkiDir, sslOptions, startTlsBroker } from '../listeners/tls-helpers.js'

const tcp = (extra: Record<string, unknown>) => ({ listeners: { tcp: { default: { bind: '127.0.0.1:0', ...extra } } } })

/** Polls until `check` holds or `ms` pass; returns whether it held. */
async function until (check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) return false
    await delay(10)
  }
  return true
}

const logged = (b: TestBroker, text: string) => b.logs.filter((l) => String(l.msg).includes(text))

t.test('rates parse as EMQX writes them', async (t) => {
  t.same(parseRate('1000/s', false), { amount: 1000, periodMs: 1000 })
  t.same(parseRate('100/10s', false), { amount: 100, periodMs: 10_000 })
  t.same(parseRate('5/500ms', false), { amount: 5, periodMs: 500 })
  t.same(parseRate('10MB/10s', true), { amount: 10 * 1024 * 1024, periodMs: 10_000 })
  t.equal(parseRate('infinity', false), null)
  for (const bad of ['1MB/s', '0/s', '10', '/s', '10/x', '-1/s']) t.equal(parseRate(bad, false), undefined, bad)
  await t.rejects(startBroker(tcp({ messages_rate: 'fast' })), /messages_rate/, 'a bad rate stops start-up')
})

t.test('max_conn_rate: a burst waits its turn, no more than the rate gets through, all are served', async (t) => {
  const b = await startBroker(tcp({ max_conn_rate: '5/s' }))
  t.teardown(() => b.close())
  const start = Date.now()
  const connackAt: number[] = []
  const codes = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    const { raw, connack } = await rawConnect(b.tcpPort, 4, { clientId: `rate-${i}` })
    t.teardown(() => raw.socket.destroy())
    connackAt.push(Date.now() - start)
    return connack.returnCode
  }))
  t.same(codes, new Array(12).fill(0), 'every connection is served in the end')
  // A full bucket of 5, then 5 a second: within its first second the listener lets through 10 at most.
  t.ok(connackAt.filter((ms) => ms < 1000).length <= 10, `no more than the rate within the first second (${connackAt.join(', ')} ms)`)
  t.ok(b.broker.core.metrics.limits.connRateDelayed >= 2, `connections delayed, not refused (${b.broker.core.metrics.limits.connRateDelayed})`)
  t.equal(b.broker.core.metrics.limits.connRateRefused, 0)
  t.equal(b.broker.core.metrics.connectionsRefused, 0)
  t.equal(logged(b, 'listener at max_conn_rate').length, 1, 'one log line for the whole burst')
})

t.test('max_conn_rate on a ws listener: connections wait before the HTTP upgrade and are served', async (t) => {
  const b = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, ws: { default: { bind: '127.0.0.1:0', max_conn_rate: '2/s' } } } })
  t.teardown(() => b.close())
  const clients = await Promise.all(Array.from({ length: 4 }, (_, i) => connectClient(b.wsPort, { protocol: 'ws', path: '/mqtt', clientId: `ws-rate-${i}` })))
  t.teardown(() => Promise.all(clients.map((c) => end(c, true))))
  t.equal(clients.filter((c) => c.connected).length, 4)
  t.ok(b.broker.core.metrics.limits.connRateDelayed >= 1, 'some waited')
})

t.test('max_conn_rate: beyond tcp_options.backlog waiting, new connections are closed and counted', async (t) => {
  const b = await startBroker(tcp({ max_conn_rate: '1/10s', tcp_options: { backlog: 2 } }))
  t.teardown(() => b.close())
  const sockets: Awaited<ReturnType<typeof rawSocket>>[] = []
  for (let i = 0; i < 5; i++) sockets.push(await rawSocket(b.tcpPort))
  t.teardown(() => { for (const s of sockets) s.socket.destroy() })
  const limits = b.broker.core.metrics.limits
  t.ok(await until(() => limits.connRateRefused === 2), 'the two over the queue are refused')
  t.equal(limits.connRateDelayed, 2, 'two wait')
  t.equal(b.broker.core.connections.size, 1, 'one admitted')
  t.ok(await within(2000, Promise.all([sockets[3]!.closed, sockets[4]!.closed])), 'the refused ones are closed')
  t.equal(logged(b, 'max_conn_rate queue full').length, 1)
})

t.test('messages_rate: a fast publisher is slowed down, nothing is dropped', async (t) => {
  const b = await startBroker(tcp({ messages_rate: '50/s' }))
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { clientId: 'mr-sub' })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('mr/t', { qos: 0 })
  const pub = await connectClient(b.tcpPort, { clientId: 'mr-pub' })
  t.teardown(() => end(pub, true))
  for (let i = 0; i < 200; i++) pub.publish('mr/t', String(i), { qos: 0 })
  await got.waitFor(200, 10_000)
  t.same(got.messages.map((m) => m.payload.toString()), Array.from({ length: 200 }, (_, i) => String(i)), 'all 200, in order')
  const m = b.broker.core.metrics
  t.ok(m.limits.publishThrottled >= 1, `throttled (${m.limits.publishThrottled} pauses)`)
  t.equal(m.messagesDropped, 0, 'nothing dropped')
  t.equal(logged(b, 'throttled by messages_rate').length, 1, 'logged once for the client')
  // The client went on as usual: the pauses did not count as keepalive silence.
  t.ok(pub.connected)
})

t.test('bytes_rate: throttles by PUBLISH size, QoS 1 acknowledged once read', async (t) => {
  const b = await startBroker(tcp({ bytes_rate: '64KB/500ms' }))
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { clientId: 'br-sub' })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('br/t', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { clientId: 'br-pub' })
  t.teardown(() => end(pub, true))
  const payload = Buffer.alloc(8 * 1024, 7)
  await Promise.all(Array.from({ length: 20 }, () => pub.publishAsync('br/t', payload, { qos: 1 })))
  await got.waitFor(20, 5000)
  t.equal(got.messages.length, 20, 'every message delivered')
  t.ok(b.broker.core.metrics.limits.publishThrottled >= 1, 'throttled')
  t.equal(b.broker.core.metrics.messagesDropped, 0)
})

t.test('slow consumer: QoS 0 to it is dropped and counted, then it is disconnected (0x97); others are served', async (t) => {
  const b = await startBroker({ mqtt: { max_write_buffer: '256KB' }, force_shutdown: { write_buffer_timeout: '300ms' } })
  t.teardown(() => b.close())
  const { raw: slow } = await rawConnect(b.tcpPort, 5, { clientId: 'slow' })
  t.teardown(() => slow.socket.destroy())
  slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] })
  await slow.take('suback')
  slow.socket.pause()

  const normal = await connectClient(b.tcpPort, { clientId: 'normal' })
  t.teardown(() => end(normal, true))
  const got = collect(normal)
  await normal.subscribeAsync('flood/#', { qos: 0 })
  const pub = await connectClient(b.tcpPort, { clientId: 'flooder' })
  t.teardown(() => end(pub, true))

  const limits = b.broker.core.metrics.limits
  // Paced by the reading subscriber, so that only the one that never reads falls behind.
  const sent = await floodUntilSlowConsumerCut(pub, got, limits)
  t.equal(limits.slowConsumerDisconnected, 1, 'the slow consumer was disconnected')
  t.ok(limits.slowConsumerDropped > 0, `QoS 0 messages to it were dropped (${limits.slowConsumerDropped})`)
  t.ok(b.broker.core.metrics.messagesDropped >= limits.slowConsumerDropped, 'and counted as dropped')
  t.notOk(b.broker.core.clients.has('slow'), 'it is gone')
  t.equal(got.messages.length, sent, `the reading subscriber got all ${sent}`)
  t.ok(normal.connected && pub.connected, 'the others stay')
  t.equal(logged(b, 'disconnecting slow consumer').length, 1, 'logged')

  // Reading at last, it finds the DISCONNECT after what was queued for it.
  slow.socket.resume()
  const disconnect = await slow.take('disconnect', 3000)
  t.equal(disconnect.reasonCode, 0x97, 'Quota exceeded')
})

t.test('slow consumer: QoS 1 is never dropped, it waits in the session', async (t) => {
  const b = await startBroker({ mqtt: { max_write_buffer: '64KB', max_inflight: 200 } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'slow-q1', properties: { receiveMaximum: 200 } })
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q1/#', qos: 1 }] })
  await raw.take('suback')
  raw.socket.pause()
  const payload = Buffer.alloc(64 * 1024, 2)
  for (let i = 0; i < 200; i++) b.broker.publish('q1/t', payload, { qos: 1 })
  const conn = b.broker.core.clients.get('slow-q1')!
  t.ok(await until(() => conn.unsentBytes > 64 * 1024), 'its unsent data is over max_write_buffer')
  t.equal(b.broker.core.metrics.messagesDropped, 0, 'and nothing was dropped')

  raw.socket.resume()
  const received = () => raw.packets.filter((p): p is IPublishPacket => p.cmd === 'publish')
  let acked = 0
  const deadline = Date.now() + 5000
  while (acked < 200 && Date.now() < deadline) {
    for (const p of received().slice(acked)) { raw.send({ cmd: 'puback', messageId: p.messageId! }); acked++ }
    await delay(10)
  }
  t.equal(acked, 200, 'all 200 arrive once it reads')
  t.equal(b.broker.core.metrics.limits.slowConsumerDisconnected, 0)
})

t.test('overload_protection: above mem_high_watermark new connections are closed at accept and counted', async (t) => {
  const low = await startBroker({ overload_protection: { mem_high_watermark: '1MB' } })
  t.teardown(() => low.close())
  const a = await rawSocket(low.tcpPort)
  t.ok(await within(2000, a.closed), 'a raw connection is closed')
  await t.rejects(connectClient(low.tcpPort), /closed before CONNACK/, 'an MQTT client gets no CONNACK')
  const m = low.broker.core.metrics
  t.equal(m.limits.memRefused, 2)
  t.equal(m.connectionsRefused, 2)
  t.equal(low.broker.core.connections.size, 0, 'nothing reached the MQTT layer')
  const lines = logged(low, 'overload_protection.mem_high_watermark')
  t.equal(lines.length, 1, 'logged once per interval')
  t.match(lines[0], { listener: 'tcp:default', mark: 1024 * 1024 })

  const off = await startBroker({ overload_protection: { enable: false, mem_high_watermark: '1MB' } })
  t.teardown(() => off.close())
  const high = await startBroker({ overload_protection: { mem_high_watermark: '99%' } })
  t.teardown(() => high.close())
  for (const b of [off, high]) {
    const client = await connectClient(b.tcpPort)
    t.ok(client.connected, 'accepted')
    await end(client)
    t.equal(b.broker.core.metrics.limits.memRefused, 0)
  }
})

t.test('slowloris: 200 sockets that never send CONNECT are closed by idle_timeout while a client works', async (t) => {
  const b = await startBroker({ mqtt: { idle_timeout: '1s' } })
  t.teardown(() => b.close())
  const idle = await Promise.all(Array.from({ length: 200 }, () => rawSocket(b.tcpPort)))
  t.teardown(() => { for (const s of idle) s.socket.destroy() })

  const sub = await connectClient(b.tcpPort, { clientId: 'working-sub' })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('work/t', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { clientId: 'working-pub' })
  t.teardown(() => end(pub, true))
  for (let i = 0; i < 5; i++) await pub.publishAsync('work/t', `m${i}`, { qos: 1 })
  await got.waitFor(5)
  t.equal(got.messages.length, 5, 'messages flow meanwhile')

  // idle_timeout, plus the 500 ms sweep, plus slack.
  t.ok(await within(4000, Promise.all(idle.map((s) => s.closed))), 'all 200 closed')
  t.equal(idle.filter((s) => s.received().length > 0).length, 0, 'without a byte sent to them')
  t.equal(logged(b, 'no CONNECT within mqtt.idle_timeout').length, 200)
  t.equal(b.broker.core.connections.size, 2, 'the working clients remain')
  t.ok(sub.connected && pub.connected)
})

t.test('TLS slowloris: partial ClientHellos are closed by ssl_options.handshake_timeout', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const b = await startTlsBroker(t, sslOptions(pki, { handshake_timeout: '500ms' }))
  // A TLS record that announces a 512-byte ClientHello and stops after its first bytes.
  const partial = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), Buffer.alloc(32, 0xaa)])
  const stalled = await Promise.all(Array.from({ length: 20 }, () => rawSocket(b.sslPort)))
  t.teardown(() => { for (const s of stalled) s.socket.destroy() })
  for (const s of stalled) s.socket.write(partial)
  const ok = await mqttTry(b.sslPort, { rejectUnauthorized: false, clientId: 'tls-ok' }, t)
  t.ok(ok.client?.connected, 'a complete handshake is served meanwhile')
  t.ok(await within(4000, Promise.all(stalled.map((s) => s.closed))), 'all 20 closed')
  t.equal(b.broker.core.metrics.tlsFailures.handshake_timeout, 20)
})

t.test('mqtt.max_topic_levels on the wire: PUBLISH closes, SUBSCRIBE gets 0x8F', async (t) => {
  const b = await startBroker({ mqtt: { max_topic_levels: 3 } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b/c', qos: 0 }, { topic: 'a/b/c/d', qos: 0 }, { topic: 'a/+/+/#', qos: 0 }] })
  t.same((await raw.take('suback')).granted, [0, 0x8f, 0x8f])
  raw.send({ cmd: 'publish', topic: 'a/b/c', payload: Buffer.from('ok'), qos: 0, retain: false, dup: false })
  t.equal((await raw.take('publish')).topic, 'a/b/c', 'three levels pass')
  raw.send({ cmd: 'publish', topic: 'a/b/c/d', payload: Buffer.from('no'), qos: 0, retain: false, dup: false })
  t.equal((await raw.take('disconnect')).reasonCode, 0x90, 'Topic Name invalid')
  t.ok(await within(3000, raw.closed))
})
