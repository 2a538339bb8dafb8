// What one client may pin in the broker's memory (src/mqtt/memory.ts), over real sockets: topic aliases,
// subscriptions, queued and in-flight messages and a partial packet, bounded by force_shutdown.max_heap_size
// (MQTT 5: DISCONNECT 0x97 Quota exceeded, or SUBACK 0x97 for a filter), and an alias set only once its
// PUBLISH is authorized.
import t from 'tap'
import type { IPublishPacket } from 'mqtt-packet'
import { connectCollecting, delay, end, rawConnect, startBroker, within, type TestBroker } from '../helpers.js'
import { ADMIN, startApiBroker } from '../api/api-helpers.js'

const MiB = 1024 * 1024

const logged = (b: TestBroker, text: string) => b.logs.filter((l) => String(l.msg).includes(text))

const publish = (topic: string, payload: Buffer | string, extra: Partial<IPublishPacket> = {}): IPublishPacket =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, dup: false, retain: false, ...extra })

t.test('topic aliases to 60 KB topics: the client is disconnected (0x97) once it pins force_shutdown.max_heap_size', async (t) => {
  // EMQX's alias maximum with the default force_shutdown (32MB): the report's attack, anonymous.
  const b = await startBroker({ mqtt: { max_topic_alias: 65535 } })
  t.teardown(() => b.close())
  const { raw, connack } = await rawConnect(b.tcpPort, 5, { clientId: 'aliaser' })
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.properties?.topicAliasMaximum, 65535)
  const sent = 1000
  for (let alias = 1; alias <= sent; alias++) {
    raw.send(publish(`${String(alias).padStart(5, '0')}/${'x'.repeat(60_000)}`, 'p', { properties: { topicAlias: alias } }))
  }
  const disconnect = await raw.take('disconnect', 20_000)
  t.equal(disconnect.reasonCode, 0x97, 'Quota exceeded')
  t.ok(await within(3000, raw.closed), 'and closed')
  t.equal(b.broker.core.metrics.limits.memoryDisconnected, 1, 'counted')
  const [line] = logged(b, 'more memory than force_shutdown.max_heap_size')
  t.ok(line, 'logged')
  const pinned = Number(line!.pinned)
  t.ok(pinned > 32 * MiB && pinned < 32 * MiB + 2 * 61_000, `it held just over 32 MiB when cut (${pinned} bytes)`)
  t.ok(Number(line!.aliases) > 30 * MiB, 'in topic aliases')
})

t.test('an alias is set only by an accepted PUBLISH: a refused one leaves it unknown', async (t) => {
  const b = await startBroker({ mqtt: { max_topic_alias: 10 } })
  t.teardown(() => b.close())
  b.broker.addHook('authorizePublish', (_client, message) => !message.topic.startsWith('secret/'))
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'alias-authz' })
  t.teardown(() => raw.socket.destroy())
  raw.send(publish('secret/keys', 'a', { qos: 1, messageId: 1, properties: { topicAlias: 1 } }))
  t.equal((await raw.take('puback')).reasonCode, 0x87, 'the PUBLISH that names the alias is refused')
  raw.send(publish('', 'b', { qos: 1, messageId: 2, properties: { topicAlias: 1 } }))
  const disconnect = await raw.take('disconnect')
  t.equal(disconnect.reasonCode, 0x82, 'the alias is unknown: Protocol Error, not a message on secret/keys')
  t.equal(raw.packets.filter((p) => p.cmd === 'puback').length, 1)

  const { raw: ok } = await rawConnect(b.tcpPort, 5, { clientId: 'alias-ok' })
  t.teardown(() => ok.socket.destroy())
  ok.send(publish('open/t', 'a', { qos: 1, messageId: 1, properties: { topicAlias: 1 } }))
  ok.send(publish('', 'b', { qos: 1, messageId: 2, properties: { topicAlias: 1 } }))
  t.same([(await ok.take('puback')).reasonCode, (await ok.take('puback')).reasonCode], [0, 0], 'an accepted one sets it')
})

t.test('the default Topic Alias Maximum is 10', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { raw, connack } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.properties?.topicAliasMaximum, 10)
})

t.test('subscriptions: filters past force_shutdown.max_heap_size get SUBACK 0x97, the client stays', async (t) => {
  const b = await startBroker({ force_shutdown: { max_heap_size: '64KB' } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'subscriber' })
  t.teardown(() => raw.socket.destroy())
  const filters = Array.from({ length: 60 }, (_, i) => `${i}/${'f'.repeat(1000)}`)
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 0 })) })
  const granted = (await raw.take('suback')).granted as number[]
  const accepted = granted.filter((c) => c === 0).length
  t.ok(accepted > 10 && accepted < 60, `some filters granted (${accepted}), the rest refused`)
  t.same(granted.slice(accepted), new Array(60 - accepted).fill(0x97), 'Quota exceeded for each filter past the budget')
  const session = b.broker.core.sessions.get('subscriber')!
  t.equal(session.subscriptions.size, accepted)
  t.ok(session.subscriptions.bytes <= 64 * 1024, `the subscriptions pin ${session.subscriptions.bytes} bytes`)
  // A filter it has already is not new: granted again.
  raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: filters[0]!, qos: 1 }] })
  t.same((await raw.take('suback')).granted, [1])
  raw.send({ cmd: 'pingreq' })
  await raw.take('pingresp')
  t.notOk(raw.isClosed(), 'still connected')
  t.equal(logged(b, 'SUBSCRIBE refused: quota exceeded (force_shutdown.max_heap_size)').length, 60 - accepted)
})

t.test('an offline session queues no more bytes than force_shutdown.max_heap_size: the oldest are dropped', async (t) => {
  const b = await startBroker({ force_shutdown: { max_heap_size: '64KB' } })
  t.teardown(() => b.close())
  const opts = { clientId: 'queued', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } }
  const first = await connectCollecting(b.tcpPort, opts)
  await first.client.subscribeAsync('q/#', { qos: 1 })
  await end(first.client)
  const payload = (i: number) => Buffer.alloc(10_000, i)
  for (let i = 0; i < 20; i++) b.broker.publish('q/t', payload(i), { qos: 1 })
  const session = b.broker.core.sessions.get('queued')!
  t.ok(session.pinnedBytes <= 64 * 1024, `the session pins ${session.pinnedBytes} bytes`)
  t.ok(session.queueLength >= 4 && session.queueLength < 20, `${session.queueLength} of 20 kept`)
  const kept = session.queueLength

  const again = await connectCollecting(b.tcpPort, opts)
  t.teardown(() => end(again.client, true))
  await again.got.waitFor(kept)
  t.same(again.got.messages.map((m) => m.payload[0]), Array.from({ length: kept }, (_, i) => 20 - kept + i), 'the newest, in order')
  t.equal(b.broker.core.metrics.messagesDropped, 20 - kept, 'the others counted as dropped')
})

t.test('messages in flight to a client that never acknowledges: disconnected (0x97) past max_heap_size', async (t) => {
  const b = await startBroker({ mqtt: { max_inflight: 1000 }, force_shutdown: { max_heap_size: '256KB' } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'no-acks', properties: { receiveMaximum: 1000 } })
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'big/#', qos: 1 }] })
  await raw.take('suback')
  for (let i = 0; i < 40; i++) b.broker.publish('big/t', Buffer.alloc(10_000, i), { qos: 1 })
  const disconnect = await raw.take('disconnect', 5000)
  t.equal(disconnect.reasonCode, 0x97)
  const [line] = logged(b, 'more memory than force_shutdown.max_heap_size')
  t.ok(Number(line?.inflight) > 256 * 1024, `its messages in flight (${line?.inflight} bytes) are what it held`)
})

t.test('a partial packet held past max_heap_size: disconnected (0x97)', async (t) => {
  const b = await startBroker({ force_shutdown: { max_heap_size: '256KB' } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'partial' })
  t.teardown(() => raw.socket.destroy())
  const whole = (await import('mqtt-packet')).default.generate(publish('p/t', Buffer.alloc(900_000, 1)), { protocolVersion: 5 })
  raw.socket.write(whole.subarray(0, 600_000))
  const disconnect = await raw.take('disconnect', 5000)
  t.equal(disconnect.reasonCode, 0x97)
  t.equal(b.broker.core.metrics.limits.memoryDisconnected, 1)
})

t.test('force_shutdown.enable = false: nothing is bounded by bytes', async (t) => {
  const b = await startBroker({ force_shutdown: { enable: false, max_heap_size: '64KB' } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'unbounded' })
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: Array.from({ length: 100 }, (_, i) => ({ topic: `${i}/${'f'.repeat(1000)}`, qos: 0 as const })) })
  t.same((await raw.take('suback')).granted, new Array(100).fill(0))
  await delay(600) // a timer under test: past a 500 ms sweep of force_shutdown
  t.notOk(raw.isClosed(), 'not disconnected by the sweep')
})

t.test('the topic-match cache holds at most 4 MiB of topics, however long the topics clients publish to', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'long-topics' })
  t.teardown(() => raw.socket.destroy())
  for (let i = 0; i < 200; i++) raw.send(publish(`${i}/${'t'.repeat(60_000)}`, 'x', { qos: 1, messageId: i + 1 }))
  for (let i = 0; i < 200; i++) await raw.take('puback', 10_000)
  const bytes = b.broker.core.tree.cacheBytes
  t.ok(bytes > 0 && bytes <= 4 * MiB, `${bytes} bytes of topics cached for 12 MB published`)
})

t.test('a queued message keeps only its own payload alive, not the socket read it came in', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const opts = { clientId: 'offline-sub', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } }
  const sub = await connectCollecting(b.tcpPort, opts)
  await sub.client.subscribeAsync('own/#', { qos: 1 })
  await end(sub.client)
  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'chunky' })
  t.teardown(() => raw.socket.destroy())
  const mqttPacket = (await import('mqtt-packet')).default
  // One write: a 10-byte message for the offline session, then 40 KB for a topic nobody reads.
  raw.socket.write(Buffer.concat([
    mqttPacket.generate(publish('own/t', '0123456789', { qos: 1, messageId: 1 })),
    mqttPacket.generate(publish('elsewhere', Buffer.alloc(40_000))),
  ]))
  await raw.take('puback')
  const [queued] = [...b.broker.core.sessions.get('offline-sub')!.queued()]
  t.equal(queued?.message.payload.toString(), '0123456789')
  t.ok(queued!.message.payload.buffer.byteLength < 2048, `its payload keeps ${queued!.message.payload.buffer.byteLength} bytes alive`)
})

t.test('the API\'s client info shows what a client pins (heap_size), connected or not', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { mqtt: { max_topic_alias: 100 } } })
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'pinning', clean: false, properties: { sessionExpiryInterval: 60 } })
  t.teardown(() => raw.socket.destroy())
  const heap = async () => (await b.call('/api/v5/clients/pinning')).json.heap_size as number
  const idle = await heap()
  for (let alias = 1; alias <= 20; alias++) raw.send(publish(`a/${alias}/${'x'.repeat(10_000)}`, 'p', { qos: 1, messageId: alias, properties: { topicAlias: alias } }))
  for (let i = 0; i < 20; i++) await raw.take('puback')
  const withAliases = await heap()
  t.ok(withAliases - idle > 200_000, `20 aliases to 10 KB topics: ${idle} -> ${withAliases} bytes`)
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `s/${'f'.repeat(5000)}`, qos: 1 }] })
  await raw.take('suback')
  raw.socket.destroy()
  await raw.closed
  const offline = (await b.call('/api/v5/clients/pinning')).json
  t.equal(offline.connected, false)
  t.ok(offline.heap_size > 5000 && offline.heap_size < 20_000, `the kept session: its subscription (${offline.heap_size} bytes), the aliases gone with the connection`)
})

t.test('a resumed session fits its budget: the queue makes room for the subscriptions, the client is served', async (t) => {
  const b = await startBroker({ force_shutdown: { max_heap_size: '64KB' } })
  t.teardown(() => b.close())
  const opts = { clientId: 'resumer', clean: false, properties: { sessionExpiryInterval: 60 } }
  const { raw: first } = await rawConnect(b.tcpPort, 5, opts)
  const filters = ['q/#', ...Array.from({ length: 20 }, (_, i) => `${i}/${'f'.repeat(1000)}`)]
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })) })
  t.same((await first.take('suback')).granted, new Array(21).fill(1))
  first.socket.destroy()
  await first.closed
  for (let i = 0; i < 10; i++) b.broker.publish('q/t', Buffer.alloc(10_000, i), { qos: 1 })
  const session = b.broker.core.sessions.get('resumer')!
  t.ok(session.pinnedBytes <= 64 * 1024, `subscriptions and queue pin ${session.pinnedBytes} bytes together`)
  t.ok(session.queueLength >= 1, `${session.queueLength} message(s) kept`)

  const { raw, connack } = await rawConnect(b.tcpPort, 5, opts)
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.sessionPresent, true)
  const got = await raw.take('publish')
  t.equal(got.payload[0], 9, 'the newest message')
  raw.send({ cmd: 'puback', messageId: got.messageId! })
  await delay(700) // past a 500 ms sweep of force_shutdown
  raw.send({ cmd: 'pingreq' })
  await raw.take('pingresp')
  t.equal(b.broker.core.metrics.limits.memoryDisconnected, 0, 'not disconnected')
})
