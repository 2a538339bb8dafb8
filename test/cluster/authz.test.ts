// Authorization changes made through one node's API reach every node of a Redis cluster: the sources (the
// file source's rules text too), their order, the settings, the cache, and the built-in database's rules
// (also for a node that starts later). Clients connected to the other node are decided anew.
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { call, tempDir } from '../api/api-helpers.js'
import { connectOwned } from '../helpers.js'
import { hasRedis, startNode, startRedis, until } from './redis-helpers.js'

const API = { dashboard: { listeners: { http: { enable: true, bind: '127.0.0.1:0' } } } }
const RULES = '/api/v5/authorization/sources/built_in_database/rules'

function publish (c: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos: 1 }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

async function node (t: { teardown: (fn: () => unknown) => void }, name: string, servers: string, prefix: string, config: Record<string, unknown> = {}) {
  const dataDir = await tempDir(t, 'culex-authz-cluster-')
  return startNode(t, name, servers, prefix, { node: { name, data_dir: dataDir }, authorization: { no_match: 'deny', sources: [{ type: 'file', rules: '{allow, all, publish, ["a/#"]}.' }] }, ...config })
}

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  const { servers } = await startRedis(t)

  t.test('sources, settings, cache and rules changed on A apply on B; a node started later has the rules', async (t) => {
    const prefix = 'az1'
    const a = await node(t, 'a@test', servers, prefix, API)
    const b = await node(t, 'b@test', servers, prefix)
    const api = (path: string, init?: Parameters<typeof call>[2]) => call(`http://127.0.0.1:${a.broker.apiPort()}`, path, init)
    const onB = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'on-b', username: 'bob' })
    t.equal(await publish(onB, 'a/1'), 0)
    t.equal(await publish(onB, 'b/1'), 0x87)

    const rules = '{allow, all, publish, ["b/#"]}.\n'
    t.equal((await api('/api/v5/authorization/sources/file', { method: 'PUT', json: { type: 'file', enable: true, rules } })).status, 204)
    await until('B to take the new rules', () => b.logs.some((l) => l.msg === 'cluster: authorization sources changed on another node'))
    t.equal(await publish(onB, 'b/1'), 0, 'a client on B is decided by the rules set on A')
    t.equal(await publish(onB, 'a/1'), 0x87, 'its cached allow went')

    t.equal((await api('/api/v5/authorization/sources', { method: 'POST', json: { type: 'built_in_database' } })).status, 204)
    await until('B to add the source', () => b.broker.authz.sources.map((s) => s.id).join() === 'built_in_database,file')
    t.equal((await api(`${RULES}/users`, { method: 'POST', json: [{ username: 'bob', rules: [{ topic: 'c/#', permission: 'allow', action: 'publish' }] }] })).status, 204)
    await until('B to learn the rules', () => b.broker.authz.sourceList.database?.get('username:bob') !== undefined)
    t.equal(await publish(onB, 'c/1'), 0, 'a rule added on A allows on B')

    t.equal((await api('/api/v5/authorization/sources/built_in_database/move', { method: 'POST', json: { position: 'rear' } })).status, 204)
    await until('B to move it', () => b.broker.authz.sources.map((s) => s.id).join() === 'file,built_in_database')
    t.pass('moved on B too')
    t.equal((await api('/api/v5/authorization/sources/order', { method: 'PUT', json: [{ type: 'built_in_database' }, { type: 'file' }] })).status, 204)
    await until('B to take the new order', () => b.broker.authz.sources.map((s) => s.id).join() === 'built_in_database,file')
    t.pass('reordered on B too')

    const settings = { no_match: 'allow', deny_action: 'ignore', cache: { enable: true, max_size: 16, ttl: '10s', excludes: [] } }
    t.equal((await api('/api/v5/authorization/settings', { method: 'PUT', json: settings })).status, 200)
    await until('B to take the settings', () => b.broker.authz.settings.no_match === 'allow')
    t.equal(await publish(onB, 'z/1'), 0, 'no_match = allow on B')
    t.match(b.broker.authz.settings.cache, { max_size: 16, ttl: 10_000 })

    const hits = b.broker.authz.cacheHits
    t.equal(await publish(onB, 'z/1'), 0)
    t.equal(b.broker.authz.cacheHits, hits + 1, 'cached on B')
    t.equal((await api('/api/v5/authorization/cache', { method: 'DELETE' })).status, 204)
    await until('B to clear its cache', () => b.logs.some((l) => l.msg === 'cluster: authorization cache cleared on another node'))
    t.equal(await publish(onB, 'z/1'), 0)
    t.equal(b.broker.authz.cacheHits, hits + 1, 'decided again on B after the cache was cleared on A')

    const c = await node(t, 'c@test', servers, prefix, { authorization: { no_match: 'deny', sources: [{ type: 'built_in_database' }] } })
    const onC = await connectOwned(t, c.tcpPort, { protocolVersion: 5, clientId: 'on-c', username: 'bob' })
    t.equal(await publish(onC, 'c/1'), 0, 'a node started later loads the rules from Redis')

    t.equal((await api('/api/v5/authorization/sources/built_in_database', { method: 'DELETE' })).status, 204)
    await until('B to remove it', () => b.broker.authz.sources.map((s) => s.id).join() === 'file')
    t.equal(b.broker.authz.sourceList.database, null, 'and its rules with it')
  })
}
