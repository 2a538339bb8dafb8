// JWT authenticator (seed 004): HMAC and public-key tokens, claim checks, token ACLs and attributes,
// refused algorithms, and the disconnect when the token expires.
import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { SignJWT, base64url } from 'jose'
import { collect, connectClient, delay, end, rawConnect, startBroker, type TestBroker } from '../helpers.js'
import type { ClientInfo } from '../../src/mqtt/hooks.js'

const SEED_TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJFTVFYIENsb3VkIiwiaWF0IjoxNTE2MjM5MDIyfQ.-k9Ggc6L_Jxq4uUf9xwdJpwRrS3PquL-JZKtAJoOvBo'
const SECRET = 'emqxsecret'
const now = () => Math.floor(Date.now() / 1000)

function sign (claims: Record<string, unknown>, alg: string, key: Parameters<SignJWT['sign']>[0], header: Record<string, unknown> = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT', ...header }).sign(key)
}
const hmac = (claims: Record<string, unknown>, alg = 'HS256', secret = SECRET) => sign(claims, alg, Buffer.from(secret))

async function start (t: Test, jwt: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestBroker> {
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', ...jwt }], ...extra })
  t.teardown(() => b.close())
  return b
}

/** CONNECT over a raw socket; the CONNACK's reason code (v5) or return code (v3). */
async function tryConnect (t: Test, port: number, password: string | undefined, opts: { v?: 4 | 5, clientId?: string, username?: string } = {}): Promise<number> {
  const v = opts.v ?? 5
  const { raw, connack } = await rawConnect(port, v, {
    clientId: opts.clientId ?? 'c1',
    username: opts.username ?? 'u1',
    ...(password === undefined ? {} : { password: Buffer.from(password) }),
  })
  t.teardown(() => { raw.socket.destroy() })
  return (v === 5 ? connack.reasonCode : connack.returnCode) ?? -1
}

type Test = { teardown: (fn: () => unknown) => void }

t.test('seed 004: its example token connects with secret emqxsecret', async (t) => {
  const b = await start(t, { secret: SECRET })
  // The seed token has no exp: it never expires.
  t.equal(await tryConnect(t, b.tcpPort, SEED_TOKEN), 0)
  t.equal(await tryConnect(t, b.tcpPort, SEED_TOKEN, { v: 4 }), 0)
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ sub: 'EMQX Cloud', iat: now(), exp: now() + 60 })), 0)
  t.equal(await tryConnect(t, b.tcpPort, SEED_TOKEN.slice(0, -2) + 'AA'), 0x87, 'bad signature: ignored, then no authenticator left')
  t.equal(await tryConnect(t, b.tcpPort, undefined), 0x87, 'no token: ignored, refused')
  t.equal(await tryConnect(t, b.tcpPort, undefined, { v: 4 }), 5)
  const refusals = b.logs.filter((l) => l.msg === 'authentication refused')
  t.ok(refusals.length >= 3)
  t.notOk(JSON.stringify(b.logs).includes(SEED_TOKEN.split('.')[2]!), 'the token is never logged')
  t.notOk(JSON.stringify(b.logs).includes(SECRET), 'the secret is never logged')
})

t.test('a refused token is logged at warning with the reason a person can act on; the client is told only its reason code', async (t) => {
  const b = await start(t, { secret: SECRET })
  const refusal = async (password: string | undefined, clientId: string) => {
    t.equal(await tryConnect(t, b.tcpPort, password, { clientId }), 0x87)
    return b.logs.find((l) => l.msg === 'authentication refused' && l.clientid === clientId)
  }
  t.match(await refusal(SEED_TOKEN.slice(0, -2) + 'AA', 'bad-sig'), { level: 40, authenticator: 'chain', detail: 'jwt: signature verification failed' })
  t.match(await refusal(await hmac({ exp: now() + 60 }, 'HS256', 'other'), 'other-secret'), { detail: 'jwt: signature verification failed' })
  t.match(await refusal(undefined, 'no-token'), { detail: 'jwt: no token in the password' })
  t.match(await refusal('not-a-token', 'garbage'), { detail: 'jwt: the password is not a JWT (three dot-separated parts)' })
  const raw = await rawConnect(b.tcpPort, 5, { clientId: 'reason-string', username: 'u', password: Buffer.from(SEED_TOKEN.slice(0, -2) + 'AA') })
  t.teardown(() => { raw.raw.socket.destroy() })
  t.equal(raw.connack.properties?.reasonString, 'no authenticator accepted the client', 'the details stay in the log')
})

t.test('HS256/384/512, from = username, base64 secret', async (t) => {
  const b = await start(t, { secret: SECRET })
  for (const alg of ['HS256', 'HS384', 'HS512']) t.equal(await tryConnect(t, b.tcpPort, await hmac({ exp: now() + 60 }, alg)), 0, alg)
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ exp: now() + 60 }, 'HS256', 'other')), 0x87, 'another secret')

  const b2 = await start(t, { from: 'username', secret: Buffer.from('raw-bytes').toString('base64'), secret_base64_encoded: true })
  t.equal(await tryConnect(t, b2.tcpPort, undefined, { username: await hmac({ exp: now() + 60 }, 'HS256', 'raw-bytes') }), 0)
})

t.test('public-key: RS256, PS256, ES256, ES384; algorithm confusion refused', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  const pem = (k: typeof rsa) => k.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const claims = { exp: now() + 60 }
  const bRsa = await start(t, { algorithm: 'public-key', public_key: pem(rsa) })
  t.equal(await tryConnect(t, bRsa.tcpPort, await sign(claims, 'RS256', rsa.privateKey)), 0, 'RS256')
  t.equal(await tryConnect(t, bRsa.tcpPort, await sign(claims, 'PS256', rsa.privateKey)), 0, 'PS256')
  t.equal(await tryConnect(t, bRsa.tcpPort, await sign(claims, 'RS384', rsa.privateKey)), 0, 'RS384')
  // HMAC keyed with the public key's own PEM text: the classic confusion attack.
  t.equal(await tryConnect(t, bRsa.tcpPort, await hmac(claims, 'HS256', pem(rsa))), 0x87, 'HMAC token against a public key')
  const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url.encode(JSON.stringify(claims))}.`
  t.equal(await tryConnect(t, bRsa.tcpPort, none), 0x87, 'alg none')
  t.equal(await tryConnect(t, bRsa.tcpPort, await sign(claims, 'ES256', ec256.privateKey)), 0x87, 'an ES256 token against an RSA key')

  const b256 = await start(t, { algorithm: 'public-key', public_key: pem(ec256) })
  t.equal(await tryConnect(t, b256.tcpPort, await sign(claims, 'ES256', ec256.privateKey)), 0, 'ES256')
  const b384 = await start(t, { algorithm: 'public-key', public_key: pem(ec384) })
  t.equal(await tryConnect(t, b384.tcpPort, await sign(claims, 'ES384', ec384.privateKey)), 0, 'ES384')

  const bHmac = await start(t, { secret: SECRET })
  t.equal(await tryConnect(t, bHmac.tcpPort, await sign(claims, 'RS256', rsa.privateKey)), 0x87, 'an RS256 token against an HMAC secret')
  t.equal(await tryConnect(t, bHmac.tcpPort, none), 0x87, 'alg none against HMAC')
})

t.test('exp, nbf, iat and verify_claims: deny with 0x86 (v3: 4)', async (t) => {
  const b = await start(t, { secret: SECRET, verify_claims: { sub: '${clientid}', username: '${username}' } })
  const ok = { sub: 'c1', username: 'u1' }
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ ...ok, exp: now() + 60 })), 0)
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ ...ok, exp: now() - 10 })), 0x86, 'expired')
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ ...ok, exp: now() - 10 }), { v: 4 }), 4, 'expired, v3')
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ ...ok, nbf: now() + 60 })), 0x86, 'not yet valid')
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ ...ok, iat: now() + 60 })), 0x86, 'issued in the future')
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ ...ok }), { clientId: 'other' }), 0x86, 'sub mismatch')
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ sub: 'c1' })), 0x86, 'username claim missing')
  t.equal(await tryConnect(t, b.tcpPort, SEED_TOKEN), 0x86, 'the seed token lacks the claims')
  const deny = b.logs.find((l) => l.msg === 'authentication refused' && l.reason === 'token expired')
  t.match(deny, { clientid: 'c1', listener: 'tcp:default', authenticator: 'jwt' })
})

t.test('token ACL (both formats) reaches client.acl; client_attrs reach client.attrs', async (t) => {
  const b = await start(t, { secret: SECRET, acl_claim_name: 'perms' })
  const seen = new Map<string, ClientInfo>()
  // The authorizer (token ACL first) sits before any later authorizePublish hook: read the client as connected.
  b.broker.addHook('clientConnected', (client) => { seen.set(client.clientId, client) })
  const old = { pub: ['t/a'], sub: ['t/#'] }
  const rules = [{ permission: 'allow', action: 'publish', topic: 't/${clientid}', qos: [0, 1], retain: false }, { permission: 'deny', action: 'all', topic: '#' }]
  const c1 = await connectClient(b.tcpPort, { clientId: 'old', username: 'u', password: await hmac({ perms: old, client_attrs: { role: 'admin', sn: 'device-001', n: 1 } }) })
  const c2 = await connectClient(b.tcpPort, { clientId: 'new', username: 'u', password: await hmac({ perms: rules }) })
  t.teardown(() => Promise.all([end(c1, true), end(c2, true)]))
  t.same(seen.get('old')?.acl, { format: 'lists', pub: ['t/a'], sub: ['t/#'], all: [] })
  t.same(seen.get('old')?.attrs, { role: 'admin', sn: 'device-001' }, 'non-string attributes are dropped')
  t.same(seen.get('new')?.acl, { format: 'rules', rules: [rules[0], { permission: 'deny', action: 'all', topic: '#' }] })
  t.equal(await tryConnect(t, b.tcpPort, await hmac({ perms: [{ permission: 'maybe', action: 'publish', topic: 'x' }] })), 0x87, 'a malformed ACL claim is refused')
})

t.test('disconnect_after_expire: v5 DISCONNECT 0x87 then the will; v3 closed', async (t) => {
  const b = await start(t, { secret: SECRET })
  const watcher = await connectClient(b.tcpPort, { clientId: 'w', username: 'u', password: await hmac({}) })
  t.teardown(() => end(watcher, true))
  const got = collect(watcher)
  await watcher.subscribeAsync('will/#')
  const exp = now() + 1
  const v5 = await rawConnect(b.tcpPort, 5, { clientId: 'v5', username: 'u', password: Buffer.from(await hmac({ exp })), will: { topic: 'will/v5', payload: Buffer.from('gone'), qos: 0, retain: false } })
  const v3 = await rawConnect(b.tcpPort, 4, { clientId: 'v3', username: 'u', password: Buffer.from(await hmac({ exp })) })
  t.teardown(() => { v5.raw.socket.destroy(); v3.raw.socket.destroy() })
  t.equal(v5.connack.reasonCode, 0)
  t.equal(v3.connack.returnCode, 0)
  const disconnect = await v5.raw.take('disconnect', 3000)
  t.equal(disconnect.reasonCode, 0x87)
  t.ok(Date.now() >= exp * 1000 - 5, 'not before exp')
  await v5.raw.closed
  await v3.raw.closed
  t.notOk(v3.raw.packets.some((p) => p.cmd === 'disconnect'), 'v3 is just closed')
  const [will] = await got.waitFor(1)
  t.equal(will!.topic, 'will/v5')

  const b2 = await start(t, { secret: SECRET, disconnect_after_expire: false })
  const kept = await rawConnect(b2.tcpPort, 5, { clientId: 'k', username: 'u', password: Buffer.from(await hmac({ exp: now() + 1 })) })
  t.teardown(() => { kept.raw.socket.destroy() })
  // A timer under test: past the token's exp (at most 1 s away). A disconnect timer would be armed earlier
  // and shorter in this process; the PINGREQ round trip then shows whether the connection is still served.
  await delay(1500)
  await kept.raw.ping().catch(() => {})
  t.notOk(kept.raw.isClosed(), 'disconnect_after_expire = false keeps the client')
})
