// /api/v5/subscriptions with EMQX's filters and paging, and /api/v5/clients/:clientid/subscriptions.
import t from 'tap'
import { connectOwned } from '../helpers.js'
import { ADMIN, startApiBroker } from './api-helpers.js'

t.test('list, filter and page subscriptions; one client\'s', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const a = await connectOwned(t, b.tcpPort, { clientId: 'sub-a', protocolVersion: 5 })
  const c = await connectOwned(t, b.tcpPort, { clientId: 'sub-c' })
  await a.subscribeAsync('s/1', { qos: 1, nl: true, rap: true, rh: 2 })
  await a.subscribeAsync(['s/+', '$share/g1/s/2'], { qos: 2 })
  await c.subscribeAsync(['other/x', '$share/g2/s/2'], { qos: 0 })

  const list = async (q: string) => (await b.call(`/api/v5/subscriptions${q}`)).json
  const all = await list('')
  t.equal(all.meta.count, 5)
  t.match(all.meta, { page: 1, limit: 100, hasnext: false })
  t.same(all.data.find((s: { topic: string }) => s.topic === 's/1'), { node: 'culex@127.0.0.1', clientid: 'sub-a', topic: 's/1', qos: 1, nl: 1, rap: 1, rh: 2, durable: false })
  t.ok(all.data.some((s: { topic: string }) => s.topic === '$share/g1/s/2'), 'shared subscriptions are listed with $share/<group>/')

  const topics = (r: { data: { topic: string, clientid: string }[] }) => r.data.map((s) => `${s.clientid} ${s.topic}`).sort()
  t.same(topics(await list('?clientid=sub-c')), ['sub-c $share/g2/s/2', 'sub-c other/x'])
  t.same(topics(await list('?qos=2')), ['sub-a $share/g1/s/2', 'sub-a s/+'])
  t.same(topics(await list('?topic=s/2')), ['sub-a $share/g1/s/2', 'sub-c $share/g2/s/2'], 'topic: the filter, shared or not')
  t.same(topics(await list('?topic=s/2&share_group=g2')), ['sub-c $share/g2/s/2'])
  t.same(topics(await list(`?topic=${encodeURIComponent('$share/g1/s/2')}`)), ['sub-a $share/g1/s/2'], 'topic given whole')
  t.same(topics(await list('?share_group=g1')), ['sub-a $share/g1/s/2'])
  t.same(topics(await list(`?match_topic=${encodeURIComponent('s/#')}`)), ['sub-a $share/g1/s/2', 'sub-a s/+', 'sub-a s/1', 'sub-c $share/g2/s/2'])
  t.same(topics(await list('?clientid=nobody')), [])

  const page2 = await list('?limit=2&page=2')
  t.equal(page2.data.length, 2)
  t.match(page2.meta, { page: 2, limit: 2, count: 5, hasnext: true })
  t.equal((await list('?limit=2&page=3')).meta.hasnext, false)
  t.equal((await list('?qos=3')).code, 'BAD_REQUEST')
  t.equal((await list('?node=other@host')).code, 'INVALID_NODE')

  const one = await b.call('/api/v5/clients/sub-c/subscriptions')
  t.equal(one.status, 200)
  t.same(one.json.map((s: { topic: string }) => s.topic).sort(), ['$share/g2/s/2', 'other/x'])
  const missing = await b.call('/api/v5/clients/nobody/subscriptions')
  t.equal(missing.status, 404)
  t.equal(missing.json.code, 'CLIENTID_NOT_FOUND')
})
