// JWT with use_jwks: keys from an HTTPS endpoint the test serves, selection by kid, one refetch on an
// unknown kid, and the last good key set kept while the endpoint is down.
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { once } from 'node:events'
import https from 'node:https'
import t from 'tap'
import { SignJWT, exportJWK, type JWK } from 'jose'
import { rawConnect, startBroker, until } from '../helpers.js'
import { makePki, tempDir, writeFiles } from '../certs/pki.js'

type Test = { teardown: (fn: () => unknown) => void }

interface Key { kid: string, alg: string, privateKey: KeyObject, jwk: JWK }

async function key (kid: string, alg: string): Promise<Key> {
  const pair = alg.startsWith('ES') ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { kid, alg, privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } }
}

const token = (k: Key, claims: Record<string, unknown> = {}) =>
  new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60, ...claims }).setProtectedHeader({ alg: k.alg, kid: k.kid }).sign(k.privateKey)

/** An HTTPS JWKS endpoint serving `state.keys`; counts requests and records the last headers. */
async function jwksServer (t: Test) {
  const pki = await makePki()
  const dir = await tempDir(t)
  const files = await writeFiles(dir, { 'ca.pem': pki.ca.certPem })
  const state = { keys: [] as JWK[], requests: 0, headers: {} as Record<string, unknown> }
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    state.requests++
    state.headers = req.headers
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: state.keys }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const stop = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  t.teardown(async () => { if (server.listening) await stop() })
  return { state, stop, cacertfile: files['ca.pem']!, endpoint: `https://localhost:${port}/jwks` }
}

async function rc (t: Test, port: number, password: string): Promise<number> {
  const { raw, connack } = await rawConnect(port, 5, { clientId: 'c', username: 'u', password: Buffer.from(password) })
  t.teardown(() => { raw.socket.destroy() })
  return connack.reasonCode ?? -1
}

t.test('key rotation: an unknown kid causes one refetch', async (t) => {
  const k1 = await key('k1', 'RS256')
  const k2 = await key('k2', 'ES256')
  const k3 = await key('k3', 'PS256')
  const srv = await jwksServer(t)
  srv.state.keys = [k1.jwk]
  const b = await startBroker({
    authentication: [{ mechanism: 'jwt', use_jwks: true, endpoint: srv.endpoint, headers: { 'x-api-key': 'abc' }, ssl: { enable: true, verify: 'verify_peer', cacertfile: srv.cacertfile } }],
  })
  t.teardown(() => b.close())
  t.equal(await rc(t, b.tcpPort, await token(k1)), 0, 'k1 from the first fetch')
  t.equal(srv.state.requests, 1)
  t.equal(srv.state.headers['x-api-key'], 'abc', 'configured headers are sent')
  srv.state.keys = [k1.jwk, k2.jwk]
  t.equal(await rc(t, b.tcpPort, await token(k2)), 0, 'k2 after one refetch')
  t.equal(srv.state.requests, 2)
  srv.state.keys = [k1.jwk, k2.jwk, k3.jwk]
  t.equal(await rc(t, b.tcpPort, await token(k3)), 0x87, 'within the cooldown no second refetch: k3 unknown, ignored')
  t.equal(srv.state.requests, 2)
  t.equal(await rc(t, b.tcpPort, await token({ ...k1, kid: 'k2' })), 0x87, 'k1 signature under kid k2 fails')
})

t.test('endpoint down: the last good keys still verify', async (t) => {
  const k1 = await key('k1', 'ES256')
  const srv = await jwksServer(t)
  srv.state.keys = [k1.jwk]
  const b = await startBroker({
    authentication: [{ mechanism: 'jwt', use_jwks: true, endpoint: srv.endpoint, refresh_interval: '200ms', ssl: { enable: true, cacertfile: srv.cacertfile } }],
  })
  t.teardown(() => b.close())
  t.equal(await rc(t, b.tcpPort, await token(k1)), 0)
  await srv.stop()
  await until(() => b.logs.some((l) => l.msg === 'JWKS fetch failed; keeping the last key set'), 'the failed JWKS fetch logged')
  t.match(b.logs.find((l) => l.msg === 'JWKS fetch failed; keeping the last key set'), { authenticator: 'jwt', keptKeys: 1 })
  t.equal(await rc(t, b.tcpPort, await token(k1)), 0, 'still accepted')
})

t.test('verify_peer refuses an endpoint certificate it cannot verify', async (t) => {
  const k1 = await key('k1', 'ES256')
  const srv = await jwksServer(t)
  srv.state.keys = [k1.jwk]
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', use_jwks: true, endpoint: srv.endpoint, ssl: { enable: true, verify: 'verify_peer' } }] })
  t.teardown(() => b.close())
  t.equal(await rc(t, b.tcpPort, await token(k1)), 0x87, 'no keys: the token is ignored')
  t.equal(srv.state.requests, 0, 'the TLS handshake failed before any request')
})
