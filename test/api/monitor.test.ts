// /api/v5/monitor and /api/v5/monitor_current: samples every dashboard.sample_interval that follow real
// clients, EMQX's field names, this node only; a sample_interval EMQX refuses stops start-up.
import t from 'tap'
import { collect, connectOwned, startBroker } from '../helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

const http = { bind: '127.0.0.1:0' }

t.test('samples follow connections, subscriptions, retained messages and traffic', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { dashboard: { sample_interval: '1s', listeners: { http } } } })
  const sub = await connectOwned(t, b.tcpPort, { clientId: 'mon-sub', protocolVersion: 5 })
  const pub = await connectOwned(t, b.tcpPort, { clientId: 'mon-pub' })
  const got = collect(sub)
  await sub.subscribeAsync(['m/a', '$share/g/m/b'], { qos: 1 })
  for (let i = 0; i < 5; i++) await pub.publishAsync('m/a', `n${i}`, { qos: 1 })
  await pub.publishAsync('m/kept', 'kept', { qos: 1, retain: true })
  await got.waitFor(5)

  const current = (await b.call('/api/v5/monitor_current')).json
  t.match(current, { connections: 2, live_connections: 2, subscriptions: 2, shared_subscriptions: 1, topics: 2, retained_msg_count: 1 })
  for (const rate of ['received_msg_rate', 'sent_msg_rate', 'dropped_msg_rate']) t.type(current[rate], 'number', `${rate} is a number`)

  // The samples that saw the six messages: their received deltas add up to six.
  const samples = await until(async () => {
    const list = (await b.call('/api/v5/monitor')).json as Record<string, number>[]
    return list.reduce((n, s) => n + s.received, 0) >= 6 ? list : undefined
  }, 'samples counting the six messages received')
  t.equal(samples.reduce((n, s) => n + s.received, 0), 6, 'six messages received, counted once')
  t.ok(samples.reduce((n, s) => n + s.sent, 0) >= 5, 'the deliveries counted as sent')
  const last = samples[samples.length - 1]!
  t.equal(last.time_stamp % 1000, 0, 'samples fall on whole multiples of the interval')
  t.match(last, { connections: 2, subscriptions: 2, retained_msg_count: 1 })
  const busy = samples.find((s) => s.received > 0)!
  t.ok(busy.received_msg_rate > 0, 'a sample with messages has a rate')
  for (let i = 1; i < samples.length; i++) t.ok(samples[i]!.time_stamp > samples[i - 1]!.time_stamp, 'oldest first')

  const recent = (await b.call('/api/v5/monitor?latest=1')).json as unknown[]
  t.ok(recent.length <= 2, 'latest=1: only the samples of the last second')
  t.same((await b.call('/api/v5/monitor?latest=0')).json.code, 'BAD_REQUEST', 'latest is at least 1')

  const node = (await b.call('/api/v5/monitor_current/nodes/culex@127.0.0.1')).json
  t.equal(node.connections, 2)
  t.ok(node.node_uptime > 0, 'the node form has node_uptime')
  t.equal((await b.call('/api/v5/monitor/nodes/culex@127.0.0.1')).status, 200)
  const other = await b.call('/api/v5/monitor_current/nodes/other@host')
  t.equal(other.status, 400)
  t.equal(other.json.code, 'INVALID_NODE')
})

t.test('a sample_interval that does not divide a minute stops start-up, naming the key', async (t) => {
  const err = await startBroker({ dashboard: { sample_interval: '7s' } }).then(() => undefined, (e: Error) => e)
  t.match(err?.message, /dashboard\.sample_interval/)
  t.match(err?.message, /divide a minute/)
})
