// Client ids and topics of any length MQTT allows (65,535 bytes) on the LMDB store: LMDB refuses keys over
// 1,978 bytes and lmdb-js throws a RangeError reading one near 4 KB, which once ended the broker from a
// socket close handler or a session expiry timer (issue 15, item 1), and silently lost the 2-4 KB ones.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { collect, connectClient, connectCollecting, delay, end, rawConnect, startBroker, type TestBroker } from '../helpers.js'

async function dataDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-long-keys-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const durable = (dir: string) => ({ node: { data_dir: dir }, durable_storage: { backend: 'lmdb' } })

/** Waits (bounded) until `fn` is true. */
async function until (fn: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await delay(20)
  }
}

/** The broker still routes a QoS 1 message from one new client to another. */
async function stillServes (t: Test, b: TestBroker): Promise<void> {
  const sub = await connectClient(b.tcpPort, { clientId: 'after-sub' })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('after/x', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { clientId: 'after-pub' })
  t.teardown(() => end(pub, true))
  await pub.publishAsync('after/x', 'alive', { qos: 1 })
  await got.waitFor(1)
  t.equal(got.messages[0]!.payload.toString(), 'alive', 'the broker still serves clients')
  t.equal(b.broker.core.metrics.storeErrors, 0, 'no store error was counted')
  t.same(b.logs.filter((l) => (l.level as number) >= 50).map((l) => l.msg), [], 'nothing logged at error level')
}

t.test('a retained will with an empty payload on a 5,000-byte topic, then a dropped connection', async (t) => {
  const b = await startBroker(durable(await dataDir(t)))
  t.teardown(() => b.close())
  const topic = `w/${'x'.repeat(5000)}`
  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'will-5k', will: { topic, payload: Buffer.alloc(0), qos: 0, retain: true } })
  raw.socket.destroy()
  await until(() => b.logs.some((l) => l.msg === 'publishing will'), 'the will went out')
  await stillServes(t, b)
})

t.test('an MQTT 5 client id of 5,000 bytes with Session Expiry 1 s, then a dropped connection', async (t) => {
  const b = await startBroker(durable(await dataDir(t)))
  t.teardown(() => b.close())
  const clientId = 'c'.repeat(5000)
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId, properties: { sessionExpiryInterval: 1 } })
  raw.socket.destroy()
  await until(() => b.broker.core.sessions.get(clientId) === undefined, 'the session expired', 5000)
  await stillServes(t, b)
})

/** Persistent sessions with queued messages, and retained messages, under client ids and topics of these lengths, across a restart. */
async function survivesRestart (t: Test, lengths: number[]): Promise<void> {
  const dir = await dataDir(t)
  const ids = lengths.map((n, i) => `${i}`.padEnd(n, 'i'))
  const topics = lengths.map((n, i) => `t/${i}/`.padEnd(n, 't'))
  const first = await startBroker(durable(dir))
  for (const [i, clientId] of ids.entries()) {
    const sub = await connectClient(first.tcpPort, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
    await sub.subscribeAsync(topics[i]!, { qos: 1 })
    await end(sub)
  }
  const pub = await connectClient(first.tcpPort, { clientId: 'pub' })
  for (const [i, topic] of topics.entries()) {
    for (let n = 0; n < 3; n++) await pub.publishAsync(topic, `q${i}-${n}`, { qos: 1 })
    await pub.publishAsync(topic, `r${i}`, { qos: 1, retain: true })
  }
  await end(pub)
  t.equal(first.broker.core.metrics.storeErrors, 0, 'no store error before the restart')
  await first.close()

  const second = await startBroker(durable(dir))
  t.teardown(() => second.close())
  t.match(second.logs.find((l) => l.msg === 'persistent sessions and retained messages restored'),
    { sessions: ids.length, messages: ids.length * 4, retained: topics.length }, 'every session, queued message and retained message was restored')
  for (const [i, clientId] of ids.entries()) {
    const { client, got, sessionPresent } = await connectCollecting(second.tcpPort, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
    t.teardown(() => end(client, true))
    t.ok(sessionPresent, `the ${clientId.length}-byte client id's session is present`)
    await got.waitFor(4)
    t.same(got.messages.map((m) => m.payload.toString()), [`q${i}-0`, `q${i}-1`, `q${i}-2`, `r${i}`], 'its queued messages come in order')
    t.ok(got.messages.every((m) => m.topic === topics[i]), 'on the full topic')
  }
  const reader = await connectClient(second.tcpPort, { clientId: 'reader' })
  t.teardown(() => end(reader, true))
  const retained = collect(reader)
  await reader.subscribeAsync('t/#', { qos: 1 })
  await retained.waitFor(topics.length)
  t.same(retained.messages.map((m) => [m.topic.length, m.payload.toString()]).sort(), lengths.map((n, i) => [n, `r${i}`]).sort(), 'the retained messages survived')
}

// Once written, refused by LMDB (keys over 1,978 bytes) and only logged: lost at the restart.
t.test('client ids and topics of 2-4 KB are stored and survive a restart', (t) => survivesRestart(t, [2500, 3500]))

t.test('client ids and topics of 65,535 bytes are stored and survive a restart', (t) => survivesRestart(t, [65535]))

t.test('clearing a long retained topic and ending a long-id session remove them from the store', async (t) => {
  const dir = await dataDir(t)
  const first = await startBroker(durable(dir))
  const topic = `gone/${'g'.repeat(65000)}`
  const clientId = 'e'.repeat(65535)
  const pub = await connectClient(first.tcpPort, { clientId: 'pub' })
  await pub.publishAsync(topic, 'kept', { qos: 1, retain: true })
  await pub.publishAsync(topic, '', { qos: 1, retain: true })
  await end(pub)
  const sub = await connectClient(first.tcpPort, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
  await sub.subscribeAsync('gone/#', { qos: 1 })
  await end(sub)
  const again = await connectClient(first.tcpPort, { clientId, protocolVersion: 5, clean: true })
  await end(again)
  t.equal(first.broker.core.metrics.storeErrors, 0, 'no store error')
  await first.close()

  const second = await startBroker(durable(dir))
  t.teardown(() => second.close())
  t.notOk(second.logs.some((l) => l.msg === 'persistent sessions and retained messages restored'), 'nothing was left to restore')
  t.notOk(second.broker.core.sessions.get(clientId), 'the ended session is gone')
  t.equal(second.broker.core.retained.size, 0, 'the cleared retained message is gone')
})

// lmdb-js reads a key of 64 characters or more holding U+0000 back as an array: the journal's message keys
// (client id, NUL, sequence) of a 100-byte client id lost their sequence numbers at a restart, so the next
// message overwrote a stored one, and one left in the write window ended the broker at a session drop.
t.test('a 100-byte client id: messages queued across two restarts all arrive, in order', async (t) => {
  const dir = await dataDir(t)
  const clientId = 'h'.repeat(100)
  const first = await startBroker(durable(dir))
  const sub = await connectClient(first.tcpPort, { clientId, clean: false })
  await sub.subscribeAsync('h/#', { qos: 1 })
  await end(sub)
  const pub = await connectClient(first.tcpPort, { clientId: 'pub' })
  await pub.publishAsync('h/1', 'one', { qos: 1 })
  await pub.publishAsync('h/2', 'two', { qos: 1 })
  await end(pub)
  await first.close()

  const second = await startBroker(durable(dir))
  const pub2 = await connectClient(second.tcpPort, { clientId: 'pub' })
  await pub2.publishAsync('h/3', 'three', { qos: 1 })
  await end(pub2)
  await second.close()

  const third = await startBroker(durable(dir))
  t.teardown(() => third.close())
  const { client, got } = await connectCollecting(third.tcpPort, { clientId, clean: false })
  await got.waitFor(3)
  t.same(got.messages.map((m) => m.payload.toString()), ['one', 'two', 'three'], 'every queued message arrives, in order')
  await end(client)
  const dropper = await connectClient(third.tcpPort, { clientId, clean: true })
  await end(dropper)
  await stillServes(t, third)
})
