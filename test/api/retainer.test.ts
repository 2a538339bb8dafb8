// EMQX's retainer API: retained messages listed (who published them, when), one with its payload, and
// deleted without anything published; a later subscriber gets nothing.
import t from 'tap'
import { collect, connectOwned, probe } from '../helpers.js'
import { ADMIN, startApiBroker } from './api-helpers.js'

t.test('list, read and delete retained messages', async (t) => {
  const before = Date.now()
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const pub = await connectOwned(t, b.tcpPort, { clientId: 'ret-pub', protocolVersion: 5 })
  await pub.publishAsync('r/a', 'alpha', { qos: 1, retain: true })
  await pub.publishAsync('r/b/c', Buffer.from([0, 1, 2, 255]), { qos: 2, retain: true })
  await pub.publishAsync('other', 'x', { qos: 0, retain: true })

  const list = await b.call('/api/v5/mqtt/retainer/messages')
  t.equal(list.status, 200)
  t.equal(list.json.meta.count, 3)
  const a = list.json.data.find((m: { topic: string }) => m.topic === 'r/a')
  t.match(a, { topic: 'r/a', qos: 1, from_clientid: 'ret-pub', from_username: '' })
  t.match(a.msgid, /^[0-9a-f]{32}$/)
  const at = Date.parse(a.publish_at)
  t.ok(at >= before - 1000 && at <= Date.now(), `publish_at ${a.publish_at} is when it was stored`)
  t.notOk('payload' in a, 'the list has no payloads')

  const filtered = await b.call(`/api/v5/mqtt/retainer/messages?topic=${encodeURIComponent('r/#')}`)
  t.same(filtered.json.data.map((m: { topic: string }) => m.topic).sort(), ['r/a', 'r/b/c'])
  const paged = await b.call('/api/v5/mqtt/retainer/messages?limit=2&page=2')
  t.match(paged.json.meta, { page: 2, limit: 2, count: 3, hasnext: false })
  t.equal(paged.json.data.length, 1)

  const one = await b.call(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/b/c')}`)
  t.equal(one.status, 200)
  t.equal(one.json.topic, 'r/b/c')
  t.equal(one.json.qos, 2)
  t.same(Buffer.from(one.json.payload, 'base64'), Buffer.from([0, 1, 2, 255]), 'payload in base64')
  const none = await b.call(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/none')}`)
  t.equal(none.status, 404)
  t.equal(none.json.code, 'NOT_FOUND')

  // A subscriber to r/a hears nothing of the deletion.
  const watcher = await connectOwned(t, b.tcpPort, { clientId: 'ret-watch', protocolVersion: 5 })
  const seen = collect(watcher)
  await watcher.subscribeAsync('r/a', { qos: 1 })
  await seen.waitFor(1)
  t.equal(seen.messages[0]!.payload.toString(), 'alpha', 'the retained message, at subscribe')
  const del = await b.call(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/a')}`, { method: 'DELETE' })
  t.equal(del.status, 204)
  t.equal((await b.call(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/a')}`)).status, 404, 'gone')
  t.equal((await b.call(`/api/v5/mqtt/retainer/message/${encodeURIComponent('r/a')}`, { method: 'DELETE' })).status, 404, 'deleting again: 404')
  await probe(pub, 'r/a', [seen])
  t.notOk(seen.messages.some((m) => m.payload.length === 0), 'no empty message was published to the subscriber')

  const late = await connectOwned(t, b.tcpPort, { clientId: 'ret-late', protocolVersion: 5 })
  const lateSeen = collect(late)
  await late.subscribeAsync(['r/#'], { qos: 1 })
  await probe(pub, 'r/probe', [lateSeen])
  t.same(lateSeen.messages.filter((m) => m.packet.retain).map((m) => m.topic), ['r/b/c'], 'a new subscriber gets only what is still retained')

  const cleared = await b.call('/api/v5/mqtt/retainer/messages', { method: 'DELETE' })
  t.equal(cleared.status, 204)
  t.equal((await b.call('/api/v5/mqtt/retainer/messages')).json.meta.count, 0, 'DELETE on the list removes them all')
})

t.test('from_username is the publisher\'s user name', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const pub = await connectOwned(t, b.tcpPort, { clientId: 'named', username: 'alice' })
  await pub.publishAsync('u/t', 'v', { qos: 1, retain: true })
  const one = await b.call('/api/v5/mqtt/retainer/message/u%2Ft')
  t.match(one.json, { from_clientid: 'named', from_username: 'alice', payload: Buffer.from('v').toString('base64') })
})
