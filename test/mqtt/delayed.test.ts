// delayed: PUBLISH to $delayed/{seconds}/{topic} is held and published to {topic} when due (EMQX 5.8's
// emqx_delayed): authorized for {topic}, bounded by max_delayed_messages, refused in EMQX's invalid forms,
// kept in the durable store across a restart (acknowledged once stored: a SIGKILL loses none); disabled, $delayed/ is an ordinary topic.
import { join } from 'node:path'
import t from 'tap'
import type { IClientOptions, MqttClient } from 'mqtt'
import { collect, connectClient, connectOwned, end, freePort, rawConnect, spawnBrokerProcess, startBroker, tcpOnlyHocon, type TestBroker } from '../helpers.js'
import { tempDir } from '../api/api-helpers.js'

type Teardown = Parameters<typeof tempDir>[0]

async function broker (t: Teardown, config: Record<string, unknown> = {}, dataDir?: string): Promise<TestBroker> {
  const b = await startBroker({ node: { data_dir: dataDir ?? await tempDir(t, 'culex-delayed-') }, ...config })
  t.teardown(() => b.close())
  return b
}

/** An MQTT 5 client (unless `extra` says otherwise), ended at teardown. */
const client = (t: Teardown, port: number, clientId: string, extra: IClientOptions = {}): Promise<MqttClient> =>
  connectOwned(t, port, { clientId, protocolVersion: 5, ...extra })

/** 0 when a QoS 1 PUBLISH is accepted (MQTT.js does not say with which code), else the refusal's code. */
async function puback (c: MqttClient, topic: string, payload = 'x'): Promise<number> {
  try {
    await c.publishAsync(topic, payload, { qos: 1 })
    return 0
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code !== 'number') throw err
    return code
  }
}

t.test('$delayed/1/{topic}: held, then published to {topic} a second later', async (t) => {
  const b = await broker(t)
  const sub = await client(t, b.tcpPort, 'sub')
  await sub.subscribeAsync('d/#', { qos: 1 })
  const got = collect(sub)
  const pub = await client(t, b.tcpPort, 'pub')
  const sentAt = Date.now()
  await pub.publishAsync('$delayed/1/d/one', 'later', { qos: 1 })
  t.equal(got.messages.length, 0, 'not delivered at once')
  t.equal(b.broker.core.delayed.size, 1, 'held')
  t.equal(b.broker.core.metrics.messagesDelayed, 1, 'counted (messages.delayed)')
  const [m] = await got.waitFor(1, 15_000)
  t.equal(m!.topic, 'd/one', 'published to the real topic')
  t.equal(m!.payload.toString(), 'later')
  t.ok(Date.now() - sentAt >= 950, 'no sooner than the delay')
  t.equal(b.broker.core.delayed.size, 0)
})

t.test('a Unix time (≥ 4294967) is when to publish', async (t) => {
  const b = await broker(t)
  const sub = await client(t, b.tcpPort, 'sub')
  await sub.subscribeAsync('abs', { qos: 1 })
  const got = collect(sub)
  const at = Math.floor(Date.now() / 1000) + 1
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'raw' })
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'publish', topic: `$delayed/${at}/abs`, payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false })
  t.match(await raw.take('puback', 10_000), { messageId: 7, reasonCode: 0x10 }, 'MQTT 5: 0x10 No matching subscribers (as EMQX)')
  const [m] = await got.waitFor(1, 15_000)
  t.equal(m!.topic, 'abs')
  t.ok(Date.now() >= (at - 1) * 1000, 'not before that second')
})

t.test('invalid forms are refused; authorization is for the real topic; max_delayed_messages bounds', async (t) => {
  const b = await broker(t, { delayed: { max_delayed_messages: 1 } })
  const asked: string[] = []
  b.broker.addHook('authorizePublish', (_client, message) => { asked.push(message.topic); return message.topic === 'secret' ? 'deny' : 'ignore' })
  const pub = await client(t, b.tcpPort, 'pub')
  t.equal(await puback(pub, '$delayed/5'), 0x87, 'no topic after the delay: Not authorized, as EMQX\'s authorization answers')
  t.equal(await puback(pub, '$delayed/soon/t'), 0x90, 'a delay that is not a number: Topic Name invalid')
  t.equal(await puback(pub, `$delayed/${Math.floor(Date.now() / 1000) + 5_000_000}/t`), 0x90, 'a time more than 4294967 s ahead')
  t.equal(await puback(pub, '$delayed/1/$SYS/x'), 0x87, '$SYS is the broker\'s, delayed or not')
  t.equal(await puback(pub, '$delayed/60/secret'), 0x87, 'denied for the real topic')
  t.ok(asked.includes('secret'), 'the authorize hook saw the real topic')
  t.equal(b.broker.core.delayed.size, 0, 'nothing held so far')
  t.equal(await puback(pub, '$delayed/60/ok'), 0)
  t.equal(await puback(pub, '$delayed/60/ok'), 0x97, 'one more than max_delayed_messages: Quota exceeded')
  t.equal(b.broker.core.delayed.size, 1)
})

t.test('disabled: $delayed/ is an ordinary topic', async (t) => {
  const b = await broker(t, { delayed: { enable: false } })
  const sub = await client(t, b.tcpPort, 'sub')
  await sub.subscribeAsync('$delayed/60/t', { qos: 1 })
  const got = collect(sub)
  const pub = await client(t, b.tcpPort, 'pub')
  t.equal(await puback(pub, '$delayed/60/t', 'now'), 0)
  const [m] = await got.waitFor(1, 10_000)
  t.equal(m!.topic, '$delayed/60/t', 'delivered at once, as published')
  t.equal(b.broker.core.delayed.size, 0)
})

t.test('held messages survive a restart (durable store) and are published when due', async (t) => {
  const dir = await tempDir(t, 'culex-delayed-')
  const config = { durable_storage: { backend: 'lmdb' } }
  const first = await startBroker({ node: { data_dir: dir }, ...config })
  let firstClosed: Promise<void> | undefined
  const closeFirst = () => (firstClosed ??= first.close())
  t.teardown(closeFirst)
  // A persistent subscriber: the message reaches its session whether it falls due before or after it reconnects.
  const persistent = { clean: false, properties: { sessionExpiryInterval: 600 } }
  const sub = await connectClient(first.tcpPort, { clientId: 'keeps', protocolVersion: 5, ...persistent })
  await sub.subscribeAsync('kept', { qos: 1 })
  await end(sub)
  const pub = await connectClient(first.tcpPort, { clientId: 'pub', protocolVersion: 5 })
  t.equal(await puback(pub, '$delayed/2/kept', 'across'), 0)
  await end(pub)
  await closeFirst()

  const second = await broker(t, config, dir)
  t.ok(second.logs.some((l) => l.msg === 'delayed messages restored' && l.delayed === 1), 'restored from the data store')
  const again = await client(t, second.tcpPort, 'keeps', persistent)
  const got = collect(again)
  const [m] = await got.waitFor(1, 15_000)
  t.equal(m!.topic, 'kept')
  t.equal(m!.payload.toString(), 'across')
  t.equal(second.broker.core.delayed.size, 0, 'and no longer held')
})

t.test('SIGKILL loses no acknowledged delayed message: the PUBACK waits for the data store', async (t) => {
  const dir = await tempDir(t, 'culex-delayed-')
  const port = await freePort()
  const first = await spawnBrokerProcess(t, join(dir, 'culex.hocon'), tcpOnlyHocon(join(dir, 'data'), port), port)
  const pub = await connectClient(port, { clientId: 'pub', protocolVersion: 5 })
  // Many in flight at once, killed as soon as some are acknowledged: every one acknowledged must be on disk.
  const acked = new Set<number>()
  let killed = false
  const kill = () => { if (!killed) { killed = true; first.kill('SIGKILL') } }
  Array.from({ length: 2000 }, (_, i) => puback(pub, `$delayed/3600/later/${i}`, String(i)).then((code) => {
    if (code === 0 && !killed) acked.add(i)
    if (acked.size >= 50) kill()
  }, () => {}))
  await new Promise((resolve) => first.once('exit', resolve))
  kill()
  await end(pub, true)
  t.ok(acked.size >= 50, `${acked.size} PUBACKs before the kill`)

  const second = await broker(t, { durable_storage: { backend: 'lmdb' } }, join(dir, 'data'))
  const held = new Set(second.broker.core.delayed.list().map((r) => Number(r.message.payload.toString())))
  t.same([...acked].filter((i) => !held.has(i)), [], 'every acknowledged delayed message is held after the restart')
})
