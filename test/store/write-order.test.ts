// The LMDB store's reads see committed writes only, and writes commit a few milliseconds after they are
// issued. A removal that checked the store first found nothing while the put it had to undo was still in
// flight, and skipped itself: the ended session or the cleared retained message came back at the restart.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { collect, connectClient, delay, end, rawMqtt, startBroker, type RawMqtt, type TestBroker } from '../helpers.js'

const durable = (dir: string) => ({ node: { data_dir: dir }, durable_storage: { backend: 'lmdb' } })

async function restarted (t: Test, write: (b: TestBroker) => Promise<void>): Promise<TestBroker> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-write-order-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const first = await startBroker(durable(dir))
  await write(first)
  t.equal(first.broker.core.metrics.storeErrors, 0, 'no store error')
  await first.close()
  const second = await startBroker(durable(dir))
  t.teardown(() => second.close())
  return second
}

const connect = (clientId: string, clean: boolean, sessionExpiryInterval: number) =>
  ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean, keepalive: 0, clientId, properties: { sessionExpiryInterval } }) as const

const ids = Array.from({ length: 8 }, (_, i) => `order-${i}`)

t.test('a persistent session taken over with Clean Start in the same moment stays ended after a restart', async (t) => {
  const second = await restarted(t, async (b) => {
    const pairs: Array<[RawMqtt, RawMqtt]> = []
    for (const _ of ids) pairs.push([await rawMqtt(b.tcpPort, 5), await rawMqtt(b.tcpPort, 5)])
    // Both CONNECTs leave together: the takeover ends the session while its record's put is in flight.
    for (const [i, [persistent, clean]] of pairs.entries()) {
      persistent.send(connect(ids[i]!, false, 3600))
      clean.send(connect(ids[i]!, true, 0))
    }
    for (const [, clean] of pairs) await clean.take('connack')
    for (const [persistent, clean] of pairs) { persistent.socket.destroy(); clean.socket.destroy() }
    await delay(50)
  })
  t.notOk(second.logs.some((l) => l.msg === 'persistent sessions and retained messages restored'), 'nothing was left to restore')
  t.same(ids.filter((id) => second.broker.core.sessions.get(id)), [], 'no ended session came back')
})

t.test('a retained message cleared right after it was set stays cleared after a restart', async (t) => {
  // The last topic is too long for an LMDB key: the store keeps it under a digest, where the removal once
  // read first too, and also settled before the put ahead of it (the journal's close() then never returned).
  const topics = [...ids.map((id) => `cleared/${id}`), `cleared/${'l'.repeat(65000)}`]
  const second = await restarted(t, async (b) => {
    const raw = await rawMqtt(b.tcpPort, 5)
    raw.send(connect('retainer', true, 0))
    await raw.take('connack')
    for (const topic of topics) {
      raw.send({ cmd: 'publish', topic, payload: 'kept', qos: 0, retain: true, dup: false })
      raw.send({ cmd: 'publish', topic, payload: '', qos: 0, retain: true, dup: false })
    }
    await raw.ping()
    raw.socket.destroy()
  })
  t.equal(second.broker.core.retained.size, 0, 'no cleared retained message came back')
  const reader = await connectClient(second.tcpPort, { clientId: 'reader' })
  t.teardown(() => end(reader, true))
  const got = collect(reader)
  await reader.subscribeAsync('cleared/#', { qos: 1 })
  await delay(100)
  t.same(got.messages.map((m) => m.topic), [], 'a subscriber gets none of them')
})

t.test('messages queued to a session that ends as they are written are not delivered to its successor after a restart', async (t) => {
  const second = await restarted(t, async (b) => {
    for (const id of ids) {
      const sub = await connectClient(b.tcpPort, { clientId: id, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
      await sub.subscribeAsync(`queued/${id}`, { qos: 1 })
      await end(sub)
    }
    const pub = await rawMqtt(b.tcpPort, 5)
    pub.send(connect('queuer', true, 0))
    await pub.take('connack')
    const cleans: RawMqtt[] = []
    for (const _ of ids) cleans.push(await rawMqtt(b.tcpPort, 5))
    // Each session ends a little later than the one before, across the moment its message is written.
    for (const [i, id] of ids.entries()) {
      pub.send({ cmd: 'publish', topic: `queued/${id}`, payload: `m${i}`, qos: 1, messageId: i + 1, retain: false, dup: false })
      await delay(i)
      cleans[i]!.send(connect(id, true, 0))
    }
    for (const clean of cleans) { await clean.take('connack'); clean.socket.destroy() }
    for (const _ of ids) await pub.take('puback')
    pub.socket.destroy()
    await delay(50)
  })
  for (const id of ids) {
    const successor = await connectClient(second.tcpPort, { clientId: id, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
    t.teardown(() => end(successor, true))
    const got = collect(successor)
    await successor.subscribeAsync(`queued/${id}`, { qos: 1 })
    await delay(20)
    t.same(got.messages.map((m) => m.payload.toString()), [], `${id}: no message of the ended session`)
  }
})
