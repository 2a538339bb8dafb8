// /api/v5/mqtt/delayed (EMQX 5.8's emqx_delayed_api): settings, the paged list of held messages, one
// message with its payload, and deletion by msgid or by topic, with EMQX's error codes.
import t from 'tap'
import { connectClient, end } from '../helpers.js'
import { ADMIN, startApiBroker } from './api-helpers.js'

t.test('list, get, delete held messages; settings', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const pub = await connectClient(b.tcpPort, { clientId: 'pub', username: 'alice', protocolVersion: 5 })
  t.teardown(() => end(pub, true))
  await pub.publishAsync('$delayed/60/a/one', 'first', { qos: 1 })
  await pub.publishAsync('$delayed/30/a/two', 'second', { qos: 0 })
  await pub.publishAsync('$delayed/90/a/two', 'third', { qos: 1 })
  const node = b.broker.config.node.name

  // EMQX's stats delayed.count / delayed.max, and emqx_delayed_count / emqx_delayed_max in Prometheus.
  t.match((await b.call('/api/v5/stats?aggregate=true')).json, { 'delayed.count': 3, 'delayed.max': 3 })
  const scrape = (await b.call('/api/v5/prometheus/stats')).text
  t.match(scrape, /^emqx_delayed_count 3$/m)
  t.match(scrape, /^emqx_delayed_max 3$/m)

  const list = await b.call('/api/v5/mqtt/delayed/messages')
  t.equal(list.status, 200)
  t.same(list.json.meta, { page: 1, limit: 100, count: 3, hasnext: false })
  t.same(list.json.data.map((m: { topic: string }) => m.topic), ['a/two', 'a/one', 'a/two'], 'soonest first')
  const first = list.json.data[1]
  t.match(first, { node, topic: 'a/one', qos: 1, delayed_interval: 60, from_clientid: 'pub', from_username: 'alice', msgid: /^[0-9a-f]{32}$/ })
  t.ok(first.delayed_remaining > 0 && first.delayed_remaining <= 60)
  t.notOk('payload' in first, 'the list has no payloads')
  t.same((await b.call('/api/v5/mqtt/delayed/messages?limit=1&page=2')).json.meta, { page: 2, limit: 1, count: 3, hasnext: true })

  const one = await b.call(`/api/v5/mqtt/delayed/messages/${node}/${first.msgid}`)
  t.equal(one.status, 200)
  t.equal(Buffer.from(one.json.payload, 'base64').toString(), 'first', 'the payload, base64')

  t.match((await b.call(`/api/v5/mqtt/delayed/messages/${node}/xyz`)).json, { code: 'MESSAGE_ID_SCHEMA_ERROR' })
  const wrongNode = await b.call(`/api/v5/mqtt/delayed/messages/nobody@nowhere/${first.msgid}`)
  t.equal(wrongNode.status, 400)
  t.equal(wrongNode.json.code, 'INVALID_NODE')

  t.equal((await b.call(`/api/v5/mqtt/delayed/messages/${node}/${first.msgid}`, { method: 'DELETE' })).status, 204)
  const gone = await b.call(`/api/v5/mqtt/delayed/messages/${node}/${first.msgid}`, { method: 'DELETE' })
  t.equal(gone.status, 404)
  t.equal(gone.json.code, 'MESSAGE_ID_NOT_FOUND')
  t.equal(b.broker.core.delayed.size, 2)

  t.equal((await b.call(`/api/v5/mqtt/delayed/messages/${encodeURIComponent('a/two')}`, { method: 'DELETE' })).status, 204, 'by topic')
  t.equal(b.broker.core.delayed.size, 0)
  t.equal((await b.call(`/api/v5/mqtt/delayed/messages/${encodeURIComponent('a/two')}`, { method: 'DELETE' })).json.code, 'MESSAGE_NOT_FOUND')
  t.match((await b.call('/api/v5/stats?aggregate=true')).json, { 'delayed.count': 0, 'delayed.max': 3 }, 'none held now, three at most')

  t.same((await b.call('/api/v5/mqtt/delayed')).json, { enable: true, max_delayed_messages: 0 }, 'EMQX\'s defaults')
  const bad = await b.call('/api/v5/mqtt/delayed', { method: 'PUT', json: { max_delayed_messages: -1 } })
  t.equal(bad.status, 400)
  t.equal(bad.json.code, 'BAD_REQUEST')
  const put = await b.call('/api/v5/mqtt/delayed', { method: 'PUT', json: { max_delayed_messages: 1 } })
  t.same(put.json, { enable: true, max_delayed_messages: 1 })
  await pub.publishAsync('$delayed/60/x', 'kept', { qos: 1 })
  await t.rejects(pub.publishAsync('$delayed/60/x', 'refused', { qos: 1 }), { code: 0x97 }, 'the new bound applies')
  t.same((await b.call('/api/v5/mqtt/delayed', { method: 'PUT', json: { enable: false } })).json, { enable: false, max_delayed_messages: 1 })
})
