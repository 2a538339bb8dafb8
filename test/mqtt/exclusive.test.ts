// mqtt.exclusive_subscription: `$exclusive/<filter>` is held by one client id at a time (another gets SUBACK
// 0x97, as EMQX), released by UNSUBSCRIBE or the end of the session, kept by a persistent session across a
// restart; disabled (EMQX's default), `$exclusive/` filters are refused 0x8F as EMQX refuses them.
import t from 'tap'
import type { IClientOptions, MqttClient } from 'mqtt'
import { collect, connectClient, connectOwned, end, startBroker, type TestBroker } from '../helpers.js'
import { tempDir, until } from '../api/api-helpers.js'

type Teardown = Parameters<typeof tempDir>[0]

async function broker (t: Teardown, config: Record<string, unknown> = {}, dataDir?: string): Promise<TestBroker> {
  const b = await startBroker({ node: { data_dir: dataDir ?? await tempDir(t, 'culex-excl-') }, mqtt: { exclusive_subscription: true }, ...config })
  t.teardown(() => b.close())
  return b
}

/** An MQTT 5 client (unless `extra` says otherwise), ended at teardown. */
const client = (t: Teardown, port: number, clientId: string, extra: IClientOptions = {}): Promise<MqttClient> =>
  connectOwned(t, port, { clientId, protocolVersion: 5, ...extra })

/** The SUBACK code for one filter (MQTT.js rejects a failure code, with the SUBACK on the error). */
async function suback (c: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await c.subscribeAsync(filter, { qos: 1 })
    return granted[0]!.qos
  } catch (err) {
    const code = (err as { packet?: { granted?: number[] } }).packet?.granted?.[0]
    if (typeof code !== 'number') throw err
    return code
  }
}

t.test('one holder per filter: another client id gets 0x97 until the holder unsubscribes', async (t) => {
  const b = await broker(t)
  const a = await client(t, b.tcpPort, 'a')
  const other = await client(t, b.tcpPort, 'b')
  t.equal(await suback(a, '$exclusive/x/+'), 1, 'the first takes it')
  t.equal(await suback(other, '$exclusive/x/+'), 0x97, 'another client id: Quota exceeded')
  t.equal(await suback(a, '$exclusive/x/+'), 1, 'the holder may subscribe again')
  t.equal(await suback(other, 'x/+'), 1, 'a plain subscription to the same filter is not exclusive')
  t.equal(b.broker.core.router.exclusive.holder('x/+'), 'a')

  const gotA = collect(a)
  const gotB = collect(other)
  await a.publishAsync('x/1', 'hello', { qos: 1 })
  t.equal((await gotA.waitFor(1, 10_000))[0]!.topic, 'x/1', 'the exclusive subscription is to the filter itself')
  t.equal((await gotB.waitFor(1, 10_000))[0]!.topic, 'x/1')

  await a.unsubscribeAsync('$exclusive/x/+')
  t.equal(b.broker.core.router.exclusive.holder('x/+'), undefined, 'released by UNSUBSCRIBE')
  t.equal(await suback(other, '$exclusive/x/+'), 1, 'now the other client takes it')
  t.equal(await suback(a, '$exclusive/x/+'), 0x97)
})

t.test('MQTT 3.1.1: refused with 0x80', async (t) => {
  const b = await broker(t)
  const a = await client(t, b.tcpPort, 'a3', { protocolVersion: 4 })
  const other = await client(t, b.tcpPort, 'b3', { protocolVersion: 4 })
  t.equal(await suback(a, '$exclusive/v3'), 1)
  t.equal(await suback(other, '$exclusive/v3'), 0x80)
})

t.test('the end of the holder\'s session releases it; a persistent session keeps it', async (t) => {
  const b = await broker(t)
  const a = await client(t, b.tcpPort, 'clean-a')
  t.equal(await suback(a, '$exclusive/gone'), 1)
  await end(a)
  await until(() => b.broker.core.router.exclusive.holder('gone') === undefined, 'the hold released', 10_000)
  const other = await client(t, b.tcpPort, 'other')
  t.equal(await suback(other, '$exclusive/gone'), 1, 'taken by another client once the session ended')

  const p = await client(t, b.tcpPort, 'keeper', { clean: false, properties: { sessionExpiryInterval: 600 } })
  t.equal(await suback(p, '$exclusive/kept'), 1)
  await end(p)
  await until(() => !b.broker.core.clients.has('keeper'), 'keeper offline', 10_000)
  t.equal(await suback(other, '$exclusive/kept'), 0x97, 'an offline persistent session still holds it')
})

t.test('a persistent session holds its exclusive filter again after a restart (durable store)', async (t) => {
  const dir = await tempDir(t, 'culex-excl-')
  const config = { durable_storage: { backend: 'lmdb' } }
  const first = await startBroker({ node: { data_dir: dir }, mqtt: { exclusive_subscription: true }, ...config })
  let firstClosed: Promise<void> | undefined
  const closeFirst = () => (firstClosed ??= first.close())
  t.teardown(closeFirst)
  const p = await connectClient(first.tcpPort, { clientId: 'durable', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } })
  t.equal(await suback(p, '$exclusive/after/restart'), 1)
  await end(p)
  await closeFirst()
  const second = await broker(t, config, dir)
  t.equal(second.broker.core.router.exclusive.holder('after/restart'), 'durable', 'restored with the session')
  const other = await client(t, second.tcpPort, 'other')
  t.equal(await suback(other, '$exclusive/after/restart'), 0x97)
})

t.test('refused with 0x8F: disabled (EMQX\'s default), no filter, a shared subscription', async (t) => {
  const off = await broker(t, { mqtt: {} })
  const c = await client(t, off.tcpPort, 'c')
  t.equal(await suback(c, '$exclusive/t'), 0x8f, 'disabled: Topic Filter invalid')
  t.equal(await suback(c, 't'), 1, 'other filters are served')
  t.ok(off.logs.some((l) => l.msg === 'SUBSCRIBE refused: exclusive subscriptions are disabled (mqtt.exclusive_subscription)'))

  const on = await broker(t)
  const d = await client(t, on.tcpPort, 'd')
  t.equal(await suback(d, '$exclusive/'), 0x8f, 'no filter after the prefix')
  t.equal(await suback(d, '$exclusive/$share/g/t'), 0x8f, 'not with $share')
})
