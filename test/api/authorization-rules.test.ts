// /api/v5/authorization/sources/built_in_database/rules: per user name, per client id and for all, paged as
// EMQX pages; the rules decide at the next PUBLISH or SUBSCRIBE of connected clients (client id's first, then
// user name's, then all), and survive a restart (LMDB in node.data_dir).
import type { IClientSubscribeOptions, MqttClient } from 'mqtt'
import t from 'tap'
import { connectOwned, startBroker } from '../helpers.js'
import { startApiBroker, tempDir } from './api-helpers.js'

const RULES = '/api/v5/authorization/sources/built_in_database/rules'
const SOURCE = { no_match: 'deny', sources: [{ type: 'built_in_database' }] }

function publish (c: MqttClient, topic: string, retain = false): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos: 1, retain }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

function subscribe (c: MqttClient, topic: string, qos: 0 | 1 | 2 = 1): Promise<number> {
  return new Promise((resolve, reject) => c.subscribe(topic, { qos } as IClientSubscribeOptions, (err, granted) => {
    const suback = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted
    if (suback) resolve(suback[0]!)
    else if (err) reject(err)
    else resolve(granted![0]!.qos)
  }))
}

t.test('users: add, list (paged, like_username), show, replace, delete; a second add is 409', async (t) => {
  const b = await startApiBroker(t, { config: { authorization: SOURCE } })
  const users = Array.from({ length: 5 }, (_, i) => ({ username: `user${i}`, rules: [{ topic: `u/${i}/#`, permission: 'allow', action: 'publish' }] }))
  const post = await b.call(`${RULES}/users`, { method: 'POST', json: users })
  t.equal(post.status, 204, post.text)
  const page = await b.call(`${RULES}/users?page=2&limit=2`)
  t.equal(page.status, 200)
  t.same(page.json.meta, { page: 2, limit: 2, count: 5, hasnext: true })
  t.same(page.json.data.map((u: { username: string }) => u.username), ['user2', 'user3'])
  t.same(page.json.data[0].rules, [{ topic: 'u/2/#', permission: 'allow', action: 'publish', qos: [0, 1, 2], retain: 'all' }], 'qos and retain shown with their defaults, as EMQX')
  t.same((await b.call(`${RULES}/users?like_username=4`)).json.data.map((u: { username: string }) => u.username), ['user4'])

  const dup = await b.call(`${RULES}/users`, { method: 'POST', json: [users[1], { username: 'new', rules: [] }] })
  t.match(dup, { status: 409, json: { code: 'ALREADY_EXISTS', message: "Users 'user1' already exist" } })
  t.equal((await b.call(`${RULES}/users/new`)).status, 404, 'nothing of a refused POST is stored')

  t.same((await b.call(`${RULES}/users/user1`)).json, { username: 'user1', rules: [{ topic: 'u/1/#', permission: 'allow', action: 'publish', qos: [0, 1, 2], retain: 'all' }] })
  const put = await b.call(`${RULES}/users/user1`, { method: 'PUT', json: { username: 'user1', rules: [{ topics: ['a', 'eq b/#'], permission: 'deny', action: 'sub', qos: '0,1', retain: 1 }] } })
  t.equal(put.status, 204, put.text)
  t.same((await b.call(`${RULES}/users/user1`)).json.rules, [
    { topic: 'a', permission: 'deny', action: 'subscribe', qos: [0, 1], retain: true },
    { topic: 'eq b/#', permission: 'deny', action: 'subscribe', qos: [0, 1], retain: true },
  ], 'EMQX spellings taken, one rule per topic')
  t.match(await b.call(`${RULES}/users/user1`, { method: 'PUT', json: { username: 'user9', rules: [] } }), { status: 400 }, 'the body names another user')
  t.match(await b.call(`${RULES}/users/user1`, { method: 'PUT', json: { username: 'user1', rules: [{ topic: 't', permission: 'maybe', action: 'publish' }] } }),
    { status: 400, json: { code: 'BAD_REQUEST', message: /rules\[0\]: permission is allow or deny/ } })
  t.match(await b.call(`${RULES}/users/user1`, { method: 'PUT', json: { username: 'user1', rules: [{ topic: 't', permission: 'allow', action: 'publish', qos: 3 }] } }), { status: 400, json: { message: /qos/ } })
  t.equal((await b.call(`${RULES}/users/user1`, { method: 'DELETE' })).status, 204)
  t.match(await b.call(`${RULES}/users/user1`, { method: 'DELETE' }), { status: 404, json: { message: 'Username Not Found' } })
  t.equal((await b.call(`${RULES}/users`)).json.meta.count, 4)
})

t.test('clients and all; the rules decide for connected clients at their next PUBLISH or SUBSCRIBE', async (t) => {
  const b = await startApiBroker(t, { config: { authorization: SOURCE } })
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'dev-1', username: 'alice' })
  t.equal(await publish(c, 'x/1'), 0x87, 'no rule: no_match = deny')

  t.equal((await b.call(`${RULES}/all`, { method: 'POST', json: { rules: [{ topic: 'x/#', permission: 'allow', action: 'all' }, { topic: 'dev/${clientid}/#', permission: 'allow', action: 'publish' }] } })).status, 204)
  t.equal(await publish(c, 'x/1'), 0, 'a rule for all allows it now: the cached denial went')
  t.equal(await publish(c, 'dev/dev-1/t'), 0, 'placeholders in rules expand')
  t.equal(await publish(c, 'dev/dev-2/t'), 0x87)
  t.same((await b.call(`${RULES}/all`)).json.rules.map((r: { topic: string }) => r.topic), ['x/#', 'dev/${clientid}/#'])

  t.equal((await b.call(`${RULES}/users`, { method: 'POST', json: [{ username: 'alice', rules: [{ topic: 'x/private', permission: 'deny', action: 'publish' }] }] })).status, 204)
  t.equal(await publish(c, 'x/private'), 0x87, 'the user name\'s rules come before those for all')
  t.equal((await b.call(`${RULES}/clients`, { method: 'POST', json: [{ clientid: 'dev-1', rules: [{ topic: 'x/private', permission: 'allow', action: 'publish', retain: false }] }] })).status, 204)
  t.equal(await publish(c, 'x/private'), 0, 'the client id\'s rules come first')
  t.equal(await publish(c, 'x/private', true), 0x87, 'retain = false: a retained message falls through to the user name\'s deny')
  t.same((await b.call(`${RULES}/clients?like_clientid=dev`)).json, {
    data: [{ clientid: 'dev-1', rules: [{ topic: 'x/private', permission: 'allow', action: 'publish', qos: [0, 1, 2], retain: false }] }],
    meta: { page: 1, limit: 100, count: 1, hasnext: false },
  })
  t.equal(await subscribe(c, 'x/#'), 1)
  t.equal((await b.call(`${RULES}/clients/dev-1`, { method: 'PUT', json: { clientid: 'dev-1', rules: [{ topic: 'x/#', permission: 'deny', action: 'subscribe' }] } })).status, 204)
  t.equal(await subscribe(c, 'x/#'), 0x87, 'a SUBSCRIBE is decided anew too')

  t.equal((await b.call(`${RULES}/all`, { method: 'DELETE' })).status, 204)
  t.same((await b.call(`${RULES}/all`)).json, { rules: [] })
  t.equal(await publish(c, 'dev/dev-1/t'), 0x87)
  t.equal((await b.call(`${RULES}/clients/dev-1`, { method: 'DELETE' })).status, 204)
  t.match(await b.call(`${RULES}/clients/dev-1`), { status: 404, json: { code: 'NOT_FOUND' } })

  t.match(await b.call(RULES, { method: 'DELETE' }), { status: 400, json: { message: /must be disabled before purge/ } })
  t.equal((await b.call('/api/v5/authorization/sources/built_in_database', { method: 'PUT', json: { type: 'built_in_database', enable: false } })).status, 204)
  t.equal((await b.call(`${RULES}/users/alice`)).status, 200, 'a disabled source keeps its rules')
  t.equal((await b.call(RULES, { method: 'DELETE' })).status, 204)
  t.equal((await b.call(`${RULES}/users`)).json.meta.count, 0, 'purged')
})

t.test('without a built_in_database source the routes answer 404', async (t) => {
  const b = await startApiBroker(t)
  t.match(await b.call(`${RULES}/users`), { status: 404, json: { code: 'NOT_FOUND', message: /built_in_database/ } })
  t.match(await b.call(`${RULES}/all`, { method: 'POST', json: { rules: [] } }), { status: 404 })
  t.equal((await b.call('/api/v5/authorization/sources', { method: 'POST', json: { type: 'built_in_database' } })).status, 204)
  t.equal((await b.call(`${RULES}/users`)).status, 200, 'once the source is added')
})

t.test('the rules are in the data store: a restart with the same node.data_dir keeps them', async (t) => {
  const dataDir = await tempDir(t, 'culex-authz-db-')
  const config = { node: { data_dir: dataDir }, durable_storage: { backend: 'lmdb' }, authorization: SOURCE, dashboard: { listeners: { http: { enable: true, bind: '127.0.0.1:0' } } } }
  const first = await startBroker(config)
  const api = `http://127.0.0.1:${first.broker.apiPort()}`
  const post = await fetch(`${api}${RULES}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ username: 'bob', rules: [{ topic: 'keep/#', permission: 'allow', action: 'publish' }] }]) })
  t.equal(post.status, 204)
  await first.close()

  const second = await startBroker(config)
  t.teardown(() => second.close())
  const c = await connectOwned(t, second.tcpPort, { protocolVersion: 5, clientId: 'bob-1', username: 'bob' })
  t.equal(await publish(c, 'keep/1'), 0, 'the rule made before the restart allows')
  t.equal(await publish(c, 'other'), 0x87)
  const shown = await (await fetch(`http://127.0.0.1:${second.broker.apiPort()}${RULES}/users/bob`)).json() as { rules: unknown[] }
  t.equal(shown.rules.length, 1)
})
