// retainer.stop_publish_clear_msg, delivery_rate, max_publish_rate and msg_clear_interval over real sockets.
import t, { type Test } from 'tap'
import { tempDir, until } from '../api/api-helpers.js'
import { collect, connectOwned, startBroker } from '../helpers.js'

async function broker (t: Test, retainer: Record<string, unknown>) {
  const b = await startBroker({ node: { data_dir: await tempDir(t, 'culex-retainer-') }, retainer })
  t.teardown(() => b.close())
  return b
}

for (const stop of [true, false]) {
  t.test(`stop_publish_clear_msg = ${stop}: a clearing PUBLISH is ${stop ? 'not ' : ''}forwarded, and clears the topic`, async (t) => {
    const b = await broker(t, { stop_publish_clear_msg: stop })
    const sub = await connectOwned(t, b.tcpPort, { clientId: 'sub' })
    const got = collect(sub)
    await sub.subscribeAsync('t/#', { qos: 1 })
    const pub = await connectOwned(t, b.tcpPort, { clientId: 'pub' })
    await pub.publishAsync('t/a', 'kept', { qos: 1, retain: true })
    await pub.publishAsync('t/a', '', { qos: 1, retain: true })
    // Messages of one publisher arrive in order: once 'after' is here, the clear came before it or never.
    await pub.publishAsync('t/b', 'after', { qos: 1 })
    const seen = await got.waitFor(stop ? 2 : 3, 5000)
    t.same(seen.map((m) => [m.topic, m.payload.toString()]), stop
      ? [['t/a', 'kept'], ['t/b', 'after']]
      : [['t/a', 'kept'], ['t/a', ''], ['t/b', 'after']])
    t.equal(b.broker.core.retained.get('t/a'), undefined, 'the retained message is cleared either way')
  })
}

t.test('delivery_rate: a new subscription gets its retained messages in batches of the rate\'s amount, one per period', async (t) => {
  const b = await broker(t, { delivery_rate: '2/400ms' })
  for (let i = 0; i < 5; i++) b.broker.publish(`r/${i}`, `m${i}`, { retain: true })
  const sub = await connectOwned(t, b.tcpPort, { clientId: 'slow' })
  const got = collect(sub)
  const arrivals: number[] = []
  sub.on('message', () => arrivals.push(Date.now()))
  await sub.subscribeAsync('r/#')
  const seen = await got.waitFor(5, 10_000)
  t.same(seen.map((m) => m.payload.toString()).sort(), ['m0', 'm1', 'm2', 'm3', 'm4'], 'all of them, in the end')
  t.ok(arrivals[2]! - arrivals[0]! >= 350, `the third waits for the second batch (${arrivals[2]! - arrivals[0]!} ms)`)
  t.ok(arrivals[4]! - arrivals[0]! >= 750, `the fifth waits for the third batch (${arrivals[4]! - arrivals[0]!} ms)`)
  t.ok(arrivals[1]! - arrivals[0]! < 350, 'the first batch goes at once')
})

t.test('delivery_rate = infinity: all at once', async (t) => {
  const b = await broker(t, { delivery_rate: 'infinity' })
  for (let i = 0; i < 50; i++) b.broker.publish(`r/${i}`, `m${i}`, { retain: true })
  const sub = await connectOwned(t, b.tcpPort, { clientId: 'fast' })
  const got = collect(sub)
  await sub.subscribeAsync('r/#')
  t.equal((await got.waitFor(50, 5000)).length, 50)
})

t.test('max_publish_rate: retained messages past the rate are delivered but not stored', async (t) => {
  const b = await broker(t, { max_publish_rate: '2/1h' })
  const sub = await connectOwned(t, b.tcpPort, { clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('p/#', { qos: 1 })
  const pub = await connectOwned(t, b.tcpPort, { clientId: 'pub' })
  for (let i = 0; i < 4; i++) await pub.publishAsync(`p/${i}`, `m${i}`, { qos: 1, retain: true })
  t.equal((await got.waitFor(4, 5000)).length, 4, 'every message is delivered')
  t.same(b.broker.core.retained.match('p/#').map((m) => m.topic).sort(), ['p/0', 'p/1'], 'only the first two are stored')
  t.ok(b.logs.some((l) => String(l.msg).includes('retainer.max_publish_rate')), 'and it is logged')
})

t.test('msg_clear_interval: expired retained messages leave the store', async (t) => {
  const b = await broker(t, { msg_clear_interval: '100ms' })
  const pub = await connectOwned(t, b.tcpPort, { clientId: 'pub', protocolVersion: 5 })
  await pub.publishAsync('e/short', 'x', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
  await pub.publishAsync('e/long', 'y', { qos: 1, retain: true })
  await pub.publishAsync('$x/short', 'z', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
  t.equal(b.broker.core.retained.size, 3)
  await until(() => b.broker.core.retained.size === 1, 'expired messages removed', 5000)
  t.ok(b.broker.core.retained.get('e/long'), 'the one without expiry stays')
  t.equal(b.broker.core.retained.get('$x/short'), undefined, '$ topics are cleared too')
})

for (const allowNeverExpire of [true, false]) {
  t.test(`msg_expiry_interval_override, allow_never_expire = ${allowNeverExpire}: the clearing removes retained messages stored longer than the override`, async (t) => {
    const b = await broker(t, { msg_clear_interval: '100ms', msg_expiry_interval_override: '1s', allow_never_expire: allowNeverExpire })
    const pub = await connectOwned(t, b.tcpPort, { clientId: 'pub', protocolVersion: 5 })
    // The one without expiry is stored first: whenever the other is past the override, so is it.
    await pub.publishAsync('o/never', 'b', { qos: 1, retain: true })
    await pub.publishAsync('o/hour', 'a', { qos: 1, retain: true, properties: { messageExpiryInterval: 3600 } })
    t.equal(b.broker.core.retained.size, 2)
    await until(() => !b.broker.core.retained.get('o/hour'), 'the one with an hour left is removed after the override', 5000)
    t.equal(Boolean(b.broker.core.retained.get('o/never')), allowNeverExpire, `the one without expiry ${allowNeverExpire ? 'stays' : 'goes too'}`)
    if (!allowNeverExpire) return
    const sub = await connectOwned(t, b.tcpPort, { clientId: 'sub', protocolVersion: 5 })
    const got = collect(sub)
    await sub.subscribeAsync('o/#', { qos: 1 })
    await pub.publishAsync('o/marker', 'm', { qos: 1 })
    t.same((await got.waitFor(2, 5000)).map((m) => m.topic), ['o/never', 'o/marker'], 'a new subscriber gets only the one kept')
  })
}
