// Alarms: conn_congestion raised while a client does not read what it is sent and cleared once it drains,
// high_system_memory_usage while overload_protection refuses connections; GET /api/v5/alarms (paged,
// activated=true|false), DELETE /api/v5/alarms; actions log and publish; size_limit and validity_period.
import t from 'tap'
import { collect, connectOwned, rawMqtt, rawSocket, within } from '../helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

const KEYS = [`${ADMIN}:administrator`]

t.test('conn_congestion: raised while unsent data is above max_write_buffer, cleared once drained for min_alarm_sustain_duration', async (t) => {
  const b = await startApiBroker(t, {
    keys: KEYS,
    config: {
      node: { name: 'n1@127.0.0.1' },
      mqtt: { max_write_buffer: '16KB' },
      force_shutdown: { enable: false },
      conn_congestion: { enable_alarm: true, min_alarm_sustain_duration: '300ms' },
      alarm: { actions: ['log', 'publish'] },
    },
  })
  const watcher = await connectOwned(t, b.tcpPort, { clientId: 'watcher' })
  const events = collect(watcher)
  await watcher.subscribeAsync('$SYS/brokers/+/alarms/#')

  // A client that subscribes, then stops reading: its socket's buffers fill, then Node's write queue.
  const slow = await rawMqtt(b.tcpPort)
  t.teardown(() => { slow.socket.destroy() })
  slow.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow', username: 'u9', clean: true, keepalive: 0 })
  await slow.take('connack')
  slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood', qos: 0 }] })
  await slow.take('suback')
  slow.socket.pause()

  const name = 'conn_congestion/slow/u9'
  const payload = Buffer.alloc(64 * 1024, 1)
  const deadline = Date.now() + 20_000
  while (!b.broker.core.alarms.isActive(name)) {
    if (Date.now() > deadline) throw new Error('no congestion within 20 s')
    for (let i = 0; i < 16; i++) b.broker.publish('flood', payload)
    await new Promise((resolve) => setImmediate(resolve))
  }
  const raised = await b.call('/api/v5/alarms?activated=true')
  t.equal(raised.status, 200)
  const alarm = raised.json.data.find((a: { name: string }) => a.name === name)
  t.match(alarm, {
    node: 'n1@127.0.0.1', name, message: /connection congested/, activated: true, deactivate_at: 'infinity',
    details: { clientid: 'slow', username: 'u9', send_pend: Number }, duration: Number, activate_at: /^\d{4}-\d\d-\d\dT/,
  })
  t.ok(alarm.details.send_pend > 16 * 1024, 'more unsent than max_write_buffer')
  t.match(raised.json.meta, { page: 1, limit: 100, count: 1, hasnext: false })
  const activate = (await events.waitFor(1, 5000))[0]!
  t.equal(activate.topic, '$SYS/brokers/n1@127.0.0.1/alarms/activate')
  t.match(JSON.parse(activate.payload.toString()), { name, activated: true, deactivate_at: 'infinity', activate_at: Number, details: { clientid: 'slow' } })
  t.ok(b.logs.some((l) => l.level === 40 && l.alarm === name && /alarm raised/.test(String(l.msg))), 'logged at warning')

  // Reading again drains it; the alarm clears once it has not been congested for 300 ms.
  slow.socket.resume()
  await until(() => !b.broker.core.alarms.isActive(name), 'alarm cleared', 10_000)
  const deactivate = (await events.waitFor(2, 5000))[1]!
  t.equal(deactivate.topic, '$SYS/brokers/n1@127.0.0.1/alarms/deactivate')
  t.match(JSON.parse(deactivate.payload.toString()), { name, activated: false, deactivate_at: Number })
  t.same((await b.call('/api/v5/alarms')).json.data, [], 'activated=true is the default, and none is raised')
  const history = await b.call('/api/v5/alarms?activated=false')
  t.match(history.json.data, [{ name, activated: false, deactivate_at: /^\d{4}-\d\d-\d\dT/, duration: Number }])
  // Cleared only once not seen congested for min_alarm_sustain_duration: it was raised at least that long.
  t.ok(history.json.data[0].duration >= 300, `raised for ${history.json.data[0].duration} ms, at least min_alarm_sustain_duration`)

  t.equal((await b.call('/api/v5/alarms', { method: 'DELETE' })).status, 204)
  t.same((await b.call('/api/v5/alarms?activated=false')).json.data, [], 'DELETE forgets the cleared ones')
})

t.test('conn_congestion.enable_alarm = false: no alarm', async (t) => {
  const b = await startApiBroker(t, {
    config: { mqtt: { max_write_buffer: '16KB' }, force_shutdown: { enable: false }, conn_congestion: { enable_alarm: false } },
  })
  const slow = await rawMqtt(b.tcpPort)
  t.teardown(() => { slow.socket.destroy() })
  slow.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow', clean: true, keepalive: 0 })
  await slow.take('connack')
  slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood', qos: 0 }] })
  await slow.take('suback')
  slow.socket.pause()
  const payload = Buffer.alloc(64 * 1024, 1)
  const deadline = Date.now() + 20_000
  // Until the broker drops messages for it: it is past max_write_buffer.
  while (b.broker.core.metrics.limits.slowConsumerDropped === 0) {
    if (Date.now() > deadline) throw new Error('no slow consumer within 20 s')
    for (let i = 0; i < 16; i++) b.broker.publish('flood', payload)
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.same(b.broker.core.alarms.list(true), [], 'congested, and no alarm')
})

t.test('overload_protection refusing connections for memory raises high_system_memory_usage', async (t) => {
  const b = await startApiBroker(t, { keys: KEYS, config: { overload_protection: { enable: true, mem_high_watermark: '1MB' }, alarm: { actions: ['log'] } } })
  const a = await rawSocket(b.tcpPort)
  t.ok(await within(5000, a.closed), 'the connection is refused')
  const reply = await b.call('/api/v5/alarms')
  t.match(reply.json.data, [{ name: 'high_system_memory_usage', activated: true, details: { high_watermark: '1048576 bytes', mark_bytes: 1048576 } }])
  t.ok(b.logs.some((l) => l.alarm === 'high_system_memory_usage' && l.level === 40), 'logged at warning')
})

t.test('size_limit keeps the newest cleared alarms; validity_period expires them', async (t) => {
  const b = await startApiBroker(t, { keys: KEYS, config: { alarm: { size_limit: 2, validity_period: '1s', actions: [] } } })
  const alarms = b.broker.core.alarms
  for (const n of ['a1', 'a2', 'a3']) {
    t.ok(alarms.activate(n, { n }, `alarm ${n}`))
    t.notOk(alarms.activate(n, {}, 'again'), 'raising a raised alarm does nothing')
    t.ok(alarms.deactivate(n))
  }
  t.notOk(alarms.deactivate('a3'), 'clearing a cleared alarm does nothing')
  const paged = await b.call('/api/v5/alarms?activated=false&limit=1&page=2')
  t.match(paged.json, { data: [{ name: 'a3', message: 'alarm a3', details: { n: 'a3' } }], meta: { page: 2, limit: 1, count: 2, hasnext: false } })
  const all = await b.call('/api/v5/alarms?activated=false')
  t.same(all.json.data.map((a: { name: string }) => a.name), ['a2', 'a3'], 'the oldest went at size_limit')
  await until(async () => (await b.call('/api/v5/alarms?activated=false')).json.data.length === 0, 'expired after validity_period', 5000)
  t.pass('gone after validity_period')
})
