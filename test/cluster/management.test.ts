// Management changes made through one node's API reach every node of a Redis cluster: the
// authenticator chain, built-in database users (also for a node that starts later), managed
// certificate bundles and the device-certificate registry.
import { X509Certificate } from 'node:crypto'
import t from 'tap'
import { createCa, issueClient, issueServer } from '../../src/certs/index.js'
import { call, tempDir } from '../api/api-helpers.js'
import { connectClient, end } from '../helpers.js'
import { basePki, failureFrom, mqttTry, pkiDir, type BasePki } from '../listeners/tls-helpers.js'
import { hasRedis, startNode, startRedis, until } from './redis-helpers.js'

const API = { dashboard: { listeners: { http: { enable: true, bind: '127.0.0.1:0' } } } }

/** A node with its own node.data_dir (and the API when asked). */
async function node (t: { teardown: (fn: () => unknown) => void }, name: string, servers: string, prefix: string, config: Record<string, unknown> = {}) {
  const dataDir = await tempDir(t, 'culex-mgmt-')
  return startNode(t, name, servers, prefix, { node: { name, data_dir: dataDir }, ...config })
}

const registryListeners = (pki: BasePki) => ({
  tcp: { default: { bind: '127.0.0.1:0' } },
  ssl: {
    default: {
      bind: '127.0.0.1:0',
      ssl_options: {
        certfile: pki.files['server.pem'], keyfile: pki.files['server.key'], cacertfile: pki.files['ca.pem'],
        verify: 'verify_peer', fail_if_no_peer_cert: true, device_registry: true,
      },
    },
  },
})

const PASSWORD_DB = 'password_based:built_in_database'

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  const { servers } = await startRedis(t)

  t.test('authenticator chain and users changed on A apply on B; a node started later has the users', async (t) => {
    const prefix = 'm1'
    const a = await node(t, 'a@test', servers, prefix, API)
    const b = await node(t, 'b@test', servers, prefix)
    const api = (path: string, init?: Parameters<typeof call>[2]) => call(`http://127.0.0.1:${a.broker.apiPort()}`, path, init)
    const anonymous = await connectClient(b.tcpPort, { clientId: 'anon-before' })
    await end(anonymous, true)

    const added = await api('/api/v5/authentication', { method: 'POST', json: { mechanism: 'password_based', backend: 'built_in_database' } })
    t.equal(added.status, 200, added.text)
    await until('B to add the authenticator', () => b.broker.authn.list().some((x) => x.id === PASSWORD_DB))
    await t.rejects(connectClient(b.tcpPort, { clientId: 'anon-after' }), 'B now refuses anonymous clients')

    const user = await api(`/api/v5/authentication/${encodeURIComponent(PASSWORD_DB)}/users`, { method: 'POST', json: { user_id: 'alice', password: 'secret-1' } })
    t.equal(user.status, 201, user.text)
    await until('B to learn the user', () => b.logs.some((l) => l.msg === 'cluster: authentication user changed on another node'))
    const alice = await connectClient(b.tcpPort, { clientId: 'alice-b', username: 'alice', password: 'secret-1' })
    t.ok(alice.connected, 'a user added on A logs in on B')
    await end(alice, true)
    await t.rejects(connectClient(b.tcpPort, { clientId: 'alice-bad', username: 'alice', password: 'wrong' }), 'with its password only')

    const c = await node(t, 'c@test', servers, prefix, { authentication: [{ mechanism: 'password_based', backend: 'built_in_database' }] })
    const aliceC = await connectClient(c.tcpPort, { clientId: 'alice-c', username: 'alice', password: 'secret-1' })
    t.ok(aliceC.connected, 'a node started later loads the users from Redis')
    await end(aliceC, true)

    const changed = await api(`/api/v5/authentication/${encodeURIComponent(PASSWORD_DB)}/users/alice`, { method: 'PUT', json: { password: 'secret-2' } })
    t.equal(changed.status, 200, changed.text)
    await until('B to take the new password', () => b.logs.filter((l) => l.msg === 'cluster: authentication user changed on another node').length >= 2)
    await t.rejects(connectClient(b.tcpPort, { clientId: 'alice-old', username: 'alice', password: 'secret-1' }), 'the old password no longer works on B')

    const jwt = await api('/api/v5/authentication', { method: 'POST', json: { mechanism: 'jwt', from: 'password', use_jwks: false, algorithm: 'hmac-based', secret: 'jwt-secret-0123456789' } })
    t.equal(jwt.status, 200, jwt.text)
    t.equal((await api('/api/v5/authentication/jwt/position/front', { method: 'PUT' })).status, 204)
    const order = (await api('/api/v5/authentication')).json.map((x: { id: string }) => x.id)
    t.same(order, ['jwt', PASSWORD_DB])
    await until('B to have the same chain, in the same order', () => b.broker.authn.list().map((x) => x.id).join() === order.join())
    t.pass('added and moved on B too')
    t.equal((await api('/api/v5/authentication/order', { method: 'PUT', json: [{ id: PASSWORD_DB }, { id: 'jwt' }] })).status, 204)
    await until('B to take the new order', () => b.broker.authn.list().map((x) => x.id).join() === `${PASSWORD_DB},jwt`)
    t.pass('ordered as a whole on B too')

    t.equal((await api(`/api/v5/authentication/${encodeURIComponent(PASSWORD_DB)}`, { method: 'DELETE' })).status, 204)
    await until('B to remove it', () => b.broker.authn.list().map((x) => x.id).join() === 'jwt')
    t.pass('removed on B too')
  })

  t.test('device registry: a CA registered on A admits a device on B; a device deactivated on A is dropped by B', async (t) => {
    const prefix = 'm2'
    const pki = await basePki(await pkiDir(t))
    const deviceCa = await createCa({ cn: 'Cluster Device CA', key: 'ec256' })
    const device = await issueClient({ ca: deviceCa, cn: 'device-1', key: 'ec256' })
    const a = await node(t, 'a@test', servers, prefix, { ...API, listeners: registryListeners(pki) })
    const b = await node(t, 'b@test', servers, prefix, { listeners: registryListeners(pki) })
    const api = (path: string, init?: Parameters<typeof call>[2]) => call(`http://127.0.0.1:${a.broker.apiPort()}`, path, init)
    const tls = { cert: device.certPem + deviceCa.certPem, key: device.keyPem, ca: pki.ca.certPem, servername: 'localhost' }

    const early = await mqttTry(b.broker.port('ssl'), { ...tls, clientId: 'dev-early' }, t)
    t.notOk(early.client, 'B refuses the device before its CA is registered')

    const reg = await api('/api/v5/ca_certs', { method: 'POST', json: { certificate: deviceCa.certPem } })
    t.equal(reg.status, 201, reg.text)
    await until('B to know the CA', () => b.broker.registry.ca(reg.json.serial as string) !== undefined)
    const onB = await mqttTry(b.broker.port('ssl'), { ...tls, clientId: 'dev-b' }, t)
    t.ok(onB.client, `a CA registered on A admits the device on B (${onB.error?.message ?? ''})`)

    const serial = new X509Certificate(device.certPem).serialNumber.toUpperCase()
    await until('A to hear of the device B registered', () => a.broker.registry.device(serial) !== undefined)
    const dropped = new Promise<void>((resolve) => onB.client!.once('close', () => resolve()))
    const off = await api(`/api/v5/device_certs/${serial}`, { method: 'PUT', json: { status: 'inactive' } })
    t.equal(off.status, 200, off.text)
    await dropped
    t.pass('deactivated on A: its connection on B is dropped')
    const refused = await mqttTry(b.broker.port('ssl'), { ...tls, clientId: 'dev-again' }, t)
    t.notOk(refused.client, 'and B refuses it')
    t.match(await failureFrom(b, refused.localPort), { reason: 'device_inactive' })
  })

  t.test('certificate bundles uploaded or deleted on A are written or removed on B', async (t) => {
    const prefix = 'm3'
    // Seed 000 refuses certificates within 30 days of notBefore: issued as if made 40 days ago.
    const aged = { startDaysAgo: 40, days: 400 }
    const ca = await createCa({ cn: 'Bundle CA', ...aged })
    const server = await issueServer({ ca, cn: 'mqtt.example.com', sans: ['mqtt.example.com'], ...aged })
    const a = await node(t, 'a@test', servers, prefix, API)
    const b = await node(t, 'b@test', servers, prefix)
    const api = (path: string, init?: Parameters<typeof call>[2]) => call(`http://127.0.0.1:${a.broker.apiPort()}`, path, init)
    const up = await api('/api/v5/certs/global/name/web', { method: 'POST', json: { chain: server.certPem, key: server.keyPem, ca: ca.certPem } })
    t.equal(up.status, 204, up.text)
    await until('B to write the bundle', async () => (await b.broker.certStore.read({ name: 'web' }))?.key !== undefined)
    const onB = await b.broker.certStore.read({ name: 'web' })
    t.same(onB, await a.broker.certStore.read({ name: 'web' }), 'the same PEM files in B\'s node.data_dir')

    t.equal((await api('/api/v5/certs/global/name/web?kind=ca', { method: 'DELETE' })).status, 204)
    await until('B to drop the CA file', async () => (await b.broker.certStore.read({ name: 'web' }))?.ca === undefined)
    t.pass('one file deleted on A is deleted on B')
    t.equal((await api('/api/v5/certs/global/name/web', { method: 'DELETE' })).status, 204)
    await until('B to drop the bundle', async () => (await b.broker.certStore.info({ name: 'web' })) === undefined)
    t.pass('the bundle deleted on A is gone on B')
  })

  t.test('GET /api/v5/stats sums the running nodes with aggregate=true and lists them without', async (t) => {
    const prefix = 'm4'
    const a = await node(t, 'a@test', servers, prefix, API)
    const b = await node(t, 'b@test', servers, prefix)
    const base = `http://127.0.0.1:${a.broker.apiPort()}`
    const clients = await Promise.all([
      connectClient(a.tcpPort, { clientId: 'a1' }),
      connectClient(b.tcpPort, { clientId: 'b1' }),
      connectClient(b.tcpPort, { clientId: 'b2' }),
    ])
    t.teardown(() => Promise.all(clients.map((c) => end(c, true))))
    await clients[0]!.subscribeAsync(['x/1', 'x/2'], { qos: 1 })
    await clients[1]!.subscribeAsync(['x/1', '$share/g/x/3'], { qos: 1 })
    await clients[2]!.subscribeAsync('x/4', { qos: 0 })
    let total: Record<string, number> = {}
    await until('the cluster-wide counts', async () => {
      total = (await call(base, '/api/v5/stats?aggregate=true')).json as Record<string, number>
      return total['connections.count'] === 3 && total['subscriptions.count'] === 5
    })
    t.match(total, { 'sessions.count': 3, 'subscriptions.shared.count': 1, 'subscribers.count': 3 }, 'summed over A and B')
    t.notOk('node' in total, 'one object without a node name')
    const perNode = (await call(base, '/api/v5/stats')).json as Record<string, unknown>[]
    t.match(perNode.map((n) => [n.node, n['connections.count']]).sort(), [['a@test', 1], ['b@test', 2]], 'one object per running node')

    await b.close()
    const after = (await call(base, '/api/v5/stats?aggregate=true')).json as Record<string, number>
    t.equal(after['connections.count'], 1, 'a stopped node no longer counts')
  })
}
