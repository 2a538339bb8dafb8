// /api/v5/authorization: sources listed, added (first), shown, replaced, moved, removed, their status;
// the file source's rules text set through the API (a text with an error refused with its line, the rules in
// force kept); settings and the cache; each change applying to connected clients at their next PUBLISH or
// SUBSCRIBE; culex_authz_total in the Prometheus output.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { connectOwned } from '../helpers.js'
import { startApiBroker } from './api-helpers.js'

const SOURCES = '/api/v5/authorization/sources'

function publish (c: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos: 1 }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

t.test('sources: list, add at the front, show, replace, move, status, remove', async (t) => {
  const b = await startApiBroker(t, { config: { authorization: { no_match: 'deny', sources: [{ type: 'file', rules: '{allow, all, publish, ["a/#"]}.' }] } } })
  const list = await b.call(SOURCES)
  t.equal(list.status, 200)
  t.same(list.json, { sources: [{ type: 'file', enable: true, rules: '{allow, all, publish, ["a/#"]}.' }] }, 'the file source shows its rules as text, without a path')

  const added = await b.call(SOURCES, { method: 'POST', json: { type: 'built_in_database', enable: true } })
  t.equal(added.status, 204, added.text)
  t.same((await b.call(SOURCES)).json.sources.map((s: { type: string }) => s.type), ['built_in_database', 'file'], 'a new source is asked first, as in EMQX')
  const again = await b.call(SOURCES, { method: 'POST', json: { type: 'built_in_database' } })
  t.equal(again.status, 400, 'one source per type')
  t.match(again.json, { code: 'BAD_REQUEST', message: /exists already/ })
  t.match((await b.call(SOURCES, { method: 'POST', json: { type: 'mongodb' } })).json, { code: 'BAD_REQUEST' }, 'an unknown type is refused')

  t.same((await b.call(`${SOURCES}/built_in_database`)).json, { type: 'built_in_database', enable: true })
  t.match((await b.call(`${SOURCES}/http`)), { status: 404, json: { code: 'NOT_FOUND' } })

  const moved = await b.call(`${SOURCES}/built_in_database/move`, { method: 'POST', json: { position: 'after:file' } })
  t.equal(moved.status, 204, moved.text)
  t.same((await b.call(SOURCES)).json.sources.map((s: { type: string }) => s.type), ['file', 'built_in_database'])
  t.equal((await b.call(`${SOURCES}/built_in_database/move`, { method: 'POST', json: { position: 'front' } })).status, 204)
  t.same(b.broker.authz.sources.map((s) => s.id), ['built_in_database', 'file'], 'the broker asks them in the new order')
  t.equal((await b.call(`${SOURCES}/file/move`, { method: 'POST', json: { position: 'before:' } })).status, 400, 'an empty target')
  t.equal((await b.call(`${SOURCES}/file/move`, { method: 'POST', json: { position: 'sideways' } })).status, 400)
  t.equal((await b.call(`${SOURCES}/file/move`, { method: 'POST', json: { position: 'after:http' } })).status, 404)

  const off = await b.call(`${SOURCES}/built_in_database`, { method: 'PUT', json: { type: 'built_in_database', enable: false } })
  t.equal(off.status, 204, off.text)
  t.same(b.broker.authz.sources.map((s) => s.id), ['file'], 'a disabled source is not asked')
  t.match(await b.call(`${SOURCES}/built_in_database`, { method: 'PUT', json: { type: 'file', rules: '' } }), { status: 400, json: { message: /Type mismatch/ } })

  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'st1' })
  t.equal(await publish(c, 'a/1'), 0)
  t.equal(await publish(c, 'b/1'), 0x87)
  const status = await b.call(`${SOURCES}/file/status`)
  t.equal(status.status, 200)
  t.match(status.json, { status: 'connected', metrics: { total: 2, allow: 1, nomatch: 1, deny: 0 }, node_metrics: [{ node: b.broker.config.node.name }] })

  t.equal((await b.call(`${SOURCES}/built_in_database`, { method: 'DELETE' })).status, 204)
  t.equal((await b.call(`${SOURCES}/built_in_database`, { method: 'DELETE' })).status, 404)
  t.same((await b.call(SOURCES)).json.sources.map((s: { type: string }) => s.type), ['file'])
})

t.test('the file source\'s rules through the API: applied at the next PUBLISH, written to data_dir/authz/acl.conf, an error refused with its line', async (t) => {
  const b = await startApiBroker(t, { config: { authorization: { no_match: 'deny', sources: [{ type: 'file', rules: '{allow, all, publish, ["a/#"]}.' }] } } })
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'f1' })
  t.equal(await publish(c, 'a/1'), 0, 'allowed, and the decision cached')
  t.equal(await publish(c, 'b/1'), 0x87)

  const rules = '%% edited through the API\n{allow, all, publish, ["b/#"]}.\n'
  const put = await b.call(`${SOURCES}/file`, { method: 'PUT', json: { type: 'file', enable: true, rules } })
  t.equal(put.status, 204, put.text)
  t.equal(await readFile(join(b.dataDir, 'authz', 'acl.conf'), 'utf8'), rules, 'written where EMQX writes it')
  t.equal(await publish(c, 'b/1'), 0, 'the connected client is decided anew: allowed now')
  t.equal(await publish(c, 'a/1'), 0x87, 'and its cached allow is gone')
  t.same((await b.call(`${SOURCES}/file`)).json, { type: 'file', enable: true, rules })

  const bad = await b.call(`${SOURCES}/file`, { method: 'PUT', json: { type: 'file', enable: true, rules: '{allow, all, publish, ["c/#"]}.\n{allow, all, publish ["d"]}.\n' } })
  t.equal(bad.status, 400)
  t.match(bad.json, { code: 'BAD_REQUEST', message: /^rules:2:22: expected "," or "}", got "\["/ }, 'the line and column of the error')
  t.equal(await readFile(join(b.dataDir, 'authz', 'acl.conf'), 'utf8'), rules, 'the file is not touched')
  t.equal(await publish(c, 'b/2'), 0, 'the rules in force stay')
  t.match(await b.call(SOURCES, { method: 'POST', json: { type: 'file', rules: 'x' } }), { status: 400 })
  const missing = await b.call(`${SOURCES}/file`, { method: 'PUT', json: { type: 'file', enable: true, path: join(b.dataDir, 'nope.conf') } })
  t.match(missing, { status: 400, json: { message: /nope\.conf: cannot read the ACL file/ } })
})

t.test('settings: shown as EMQX writes them, changed as a whole, applied to connected clients', async (t) => {
  const b = await startApiBroker(t, { config: { authorization: { sources: [{ type: 'file', rules: '{deny, all, publish, ["d/#"]}.' }] } } })
  const settings = await b.call('/api/v5/authorization/settings')
  t.same(settings.json, { no_match: 'allow', deny_action: 'ignore', cache: { enable: true, max_size: 32, ttl: '1m', excludes: [] } })
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 's1' })
  t.equal(await publish(c, 'x/1'), 0, 'no_match = allow')

  const changed = { no_match: 'deny', deny_action: 'ignore', cache: { enable: true, max_size: 8, ttl: '30s', excludes: ['live/#'] } }
  const put = await b.call('/api/v5/authorization/settings', { method: 'PUT', json: changed })
  t.equal(put.status, 200, put.text)
  t.same(put.json, changed, 'the answer is the settings in force')
  t.same((await b.call('/api/v5/authorization/settings')).json, changed)
  t.equal(await publish(c, 'x/1'), 0x87, 'no_match = deny applies to the connected client at once (its cache was dropped)')
  t.match(await b.call('/api/v5/authorization/settings', { method: 'PUT', json: { no_match: 'deny' } }), { status: 400 }, 'all three are needed, as EMQX asks')
  t.match(await b.call('/api/v5/authorization/settings', { method: 'PUT', json: { ...changed, cache: { ...changed.cache, ttl: 'soon' } } }), { status: 400, json: { message: /cache\.ttl/ } })

  const disconnect = await b.call('/api/v5/authorization/settings', { method: 'PUT', json: { ...changed, deny_action: 'disconnect' } })
  t.equal(disconnect.status, 200)
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
  c.publish('d/1', 'x', { qos: 1 })
  await closed
  t.pass('deny_action = disconnect ends the connection of a denied publisher')
})

t.test('DELETE /api/v5/authorization/cache: connected clients are decided again; culex_authz_total counts', async (t) => {
  const b = await startApiBroker(t, { config: { authorization: { sources: [{ type: 'file', rules: '{allow, all, publish, ["a/#"]}.\n{deny, all, publish, ["#"]}.' }] } } })
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'c1' })
  t.equal(await publish(c, 'a/1'), 0)
  t.equal(await publish(c, 'a/1'), 0)
  t.equal(await publish(c, 'z'), 0x87)
  t.equal(b.broker.authz.cacheHits, 1, 'the second a/1 came from the cache')
  t.equal((await b.call('/api/v5/authorization/cache', { method: 'DELETE' })).status, 204)
  t.equal(await publish(c, 'a/1'), 0)
  t.equal(b.broker.authz.cacheMisses, 3, 'decided again after the cache was cleared')

  const text = (await b.call('/api/v5/prometheus/stats')).text
  t.match(text, /culex_authz_total\{source="file",result="allow"\} 2/)
  t.match(text, /culex_authz_total\{source="file",result="deny"\} 1/)
  t.match(text, /culex_authz_total\{source="cache",result="allow"\} 1/)
})

t.test('a viewer key reads the sources and settings but changes nothing', async (t) => {
  const b = await startApiBroker(t, { keys: ['admin-key:admin-secret', 'view-key:view-secret:viewer'], config: { authorization: { sources: [{ type: 'built_in_database' }] } } })
  t.equal((await b.call(SOURCES, { auth: 'view-key:view-secret' })).status, 200)
  t.equal((await b.call('/api/v5/authorization/settings', { auth: 'view-key:view-secret' })).status, 200)
  t.equal((await b.call('/api/v5/authorization/cache', { method: 'DELETE', auth: 'view-key:view-secret' })).status, 403)
  t.equal((await b.call(`${SOURCES}/built_in_database`, { method: 'DELETE', auth: 'view-key:view-secret' })).status, 403)
  t.equal((await b.call(`${SOURCES}/built_in_database`, { method: 'DELETE' })).status, 204)
})
