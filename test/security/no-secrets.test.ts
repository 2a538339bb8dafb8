// Secrets are never logged or returned. One broker, logging at debug, with every kind of secret it
// handles: built-in database passwords, a JWT secret and tokens, TLS-PSK keys, an encrypted server key
// and its password, management API keys, a user added and a certificate bundle uploaded through the
// API. Clients use each (rightly and wrongly); then every log line the broker wrote and every API
// answer are searched for each secret. Keys the broker writes to disk are mode 0600.
import { statSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import { SignJWT } from 'jose'
import { createCa, issueServer } from '../../src/certs/index.js'
import { connectClient, end, rawConnect, startBroker } from '../helpers.js'
import { basic, call, type Reply } from '../api/api-helpers.js'

const now = () => Math.floor(Date.now() / 1000)
const SECRETS = {
  userPassword: 'pw-alice-3f9c1d',
  wrongPassword: 'pw-wrong-77b2e0',
  jwtSecret: 'jwt-secret-a81f4c',
  pskHex: '5ec7e75ec7e75ec7e75ec7e75ec7e7aa',
  wrongPskHex: '0b5e55ed0b5e55ed0b5e55ed0b5e55ed',
  keyPassword: 'keypass-c0ffee12',
  apiSecret: 'api-secret-9d8e7f',
  wrongApiSecret: 'api-wrong-1a2b3c',
  apiUserPassword: 'pw-added-by-api-55aa',
  bundleKeyPassword: 'bundle-pass-e4d3c2',
}

const dir = await mkdtemp(join(tmpdir(), 'culex-secrets-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ca = await createCa({ cn: 'Secrets CA', startDaysAgo: 400, days: 3650 })
const server = await issueServer({ ca, cn: 'localhost', keyPassword: SECRETS.keyPassword })
const uploaded = await issueServer({ ca, cn: 'bundle.example.com', keyPassword: SECRETS.bundleKeyPassword, startDaysAgo: 40, days: 400 })
await writeFile(join(dir, 'server.pem'), server.certPem)
await writeFile(join(dir, 'server.key'), server.keyPem)
await writeFile(join(dir, 'users.csv'), `user_id,password,is_superuser\nalice,${SECRETS.userPassword},false\n`)
await writeFile(join(dir, 'psk.txt'), `device-1:${SECRETS.pskHex}\n`)
await writeFile(join(dir, 'api_keys.txt'), `admin:${SECRETS.apiSecret}\n`)

const b = await startBroker({
  node: { data_dir: join(dir, 'data') },
  authentication: [
    { mechanism: 'password_based', backend: 'built_in_database', bootstrap_file: join(dir, 'users.csv'), bootstrap_type: 'plain' },
    { mechanism: 'jwt', secret: SECRETS.jwtSecret },
  ],
  psk_authentication: { enable: true, init_file: join(dir, 'psk.txt') },
  listeners: {
    tcp: { default: { bind: '127.0.0.1:0' } },
    ssl: {
      default: {
        bind: '127.0.0.1:0',
        enable_authn: false,
        ssl_options: {
          certfile: join(dir, 'server.pem'), keyfile: join(dir, 'server.key'), password: SECRETS.keyPassword,
          versions: ['tlsv1.2'], ciphers: ['PSK-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
        },
      },
    },
  },
  dashboard: { listeners: { http: { bind: '127.0.0.1:0' } } },
  api_key: { bootstrap_file: join(dir, 'api_keys.txt') },
})
t.teardown(() => b.close())
const api = `http://127.0.0.1:${b.broker.apiPort()}`
const ADMIN = `admin:${SECRETS.apiSecret}`
const replies: Reply[] = []
const request = async (path: string, init: Parameters<typeof call>[2] = {}) => {
  const reply = await call(api, path, { auth: ADMIN, ...init })
  replies.push(reply)
  return reply
}

const goodToken = await new SignJWT({ exp: now() + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRETS.jwtSecret))
const expiredToken = await new SignJWT({ exp: now() - 600 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRETS.jwtSecret))
const forgedToken = await new SignJWT({ exp: now() + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from('not-the-secret'))

/** CONNACK code of a raw CONNECT with these credentials. */
async function connack (username: string, password: string, v: 4 | 5 = 5): Promise<number | undefined> {
  const { raw, connack } = await rawConnect(b.tcpPort, v, { clientId: `c-${username}-${v}`, username, password: Buffer.from(password) })
  raw.socket.destroy()
  return v === 5 ? connack.reasonCode : connack.returnCode
}

/** A TLS-PSK handshake, then (when it succeeds) an MQTT CONNECT without user name over it. */
function pskClient (hex: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1', port: b.broker.port('ssl'), ciphers: 'PSK-AES128-GCM-SHA256', maxVersion: 'TLSv1.2', checkServerIdentity: () => undefined,
      pskCallback: () => ({ psk: Buffer.from(hex, 'hex'), identity: 'device-1' }),
    })
    socket.once('secureConnect', () => {
      // CONNECT, MQTT 3.1.1, clean session, client id "psk-client"
      socket.write(Buffer.from('101600044d5154540402003c000a70736b2d636c69656e74', 'hex'))
      socket.once('data', (d: Buffer) => { socket.destroy(); resolve(d[0] === 0x20 && d[3] === 0) })
    })
    socket.once('error', () => resolve(false))
    setTimeout(() => { socket.destroy(); resolve(false) }, 3000).unref()
  })
}

t.test('clients use every secret, rightly and wrongly', async (t) => {
  t.equal(await connack('alice', SECRETS.userPassword), 0, 'password: right')
  t.equal(await connack('alice', SECRETS.wrongPassword), 0x86, 'password: wrong')
  t.equal(await connack('alice', SECRETS.wrongPassword, 4), 4, 'password: wrong, MQTT 3.1.1')
  t.equal(await connack('jwt-user', goodToken), 0, 'JWT: good')
  t.equal(await connack('jwt-user', expiredToken), 0x86, 'JWT: expired')
  t.equal(await connack('jwt-user', forgedToken), 0x87, 'JWT: forged')
  t.ok(await pskClient(SECRETS.pskHex), 'PSK: right key, CONNACK 0')
  t.notOk(await pskClient(SECRETS.wrongPskHex), 'PSK: wrong key, no handshake')
  const mqttJs = await connectClient(b.tcpPort, { protocolVersion: 5, username: 'alice', password: SECRETS.userPassword })
  await mqttJs.publishAsync('secrets/t', 'hello', { qos: 1 })
  await end(mqttJs)
})

t.test('the management API: credentials, a user added, a bundle uploaded', async (t) => {
  t.equal((await request('/api/v5/authentication', { auth: '' })).status, 401, 'no credentials: 401')
  t.equal((await request('/api/v5/authentication', { auth: `admin:${SECRETS.wrongApiSecret}` })).status, 401, 'wrong secret: 401')
  const authn = await request('/api/v5/authentication')
  t.equal(authn.status, 200)
  t.match(authn.json, [{ mechanism: 'password_based' }, { mechanism: 'jwt', secret: '******' }], 'the JWT secret reads ******')
  const users = '/api/v5/authentication/password_based:built_in_database/users'
  t.equal((await request(users, { method: 'POST', json: { user_id: 'bob', password: SECRETS.apiUserPassword } })).status, 201)
  t.equal(await connack('bob', SECRETS.apiUserPassword), 0, 'the added user connects')
  const listed = await request(users)
  t.same(listed.json.data.map((u: Record<string, unknown>) => Object.keys(u).sort()), [['is_superuser', 'user_id'], ['is_superuser', 'user_id']], 'users come back without password, hash or salt')
  const up = await request('/api/v5/certs/global/name/secret-bundle', { method: 'POST', json: { key: uploaded.keyPem, chain: uploaded.certPem, ca: ca.certPem, key_password: SECRETS.bundleKeyPassword } })
  t.equal(up.status, 204, up.text)
  const info = await request('/api/v5/certs/global/name/secret-bundle')
  t.equal(info.status, 200)
  t.match(info.json.key.path, /secret-bundle\/key\.pem$/, 'the key is given by path')
  t.equal(statSync(info.json.key.path).mode & 0o777, 0o600, 'the stored (decrypted) key is mode 0600')
  t.equal(statSync(info.json.chain.path).mode & 0o777, 0o644, 'the chain is 0644')
  await request('/api/v5/listeners')
  await request('/api/v5/clients')
  const userFile = join(dir, 'data', 'authn', 'password_based-built_in_database.json')
  t.equal(statSync(userFile).mode & 0o777, 0o600, 'the user database file is 0600')
})

t.test('no secret in any log line or API answer', async (t) => {
  t.ok(b.logs.length > 20, `the broker logged (${b.logs.length} lines at debug)`)
  t.ok(b.logs.some((l) => l.msg === 'authentication refused'), 'including the refusals')
  const logged = JSON.stringify(b.logs)
  const answered = replies.map((r) => r.text).join('\n')
  const pemBody = (pem: string) => pem.split('\n').filter((line) => line.length === 64)
  const needles: [string, string][] = [
    ...Object.entries(SECRETS),
    ['PSK key bytes as text', Buffer.from(SECRETS.pskHex, 'hex').toString('latin1')],
    ['good JWT', goodToken], ['good JWT signature', goodToken.split('.')[2]!],
    ['expired JWT signature', expiredToken.split('.')[2]!], ['forged JWT signature', forgedToken.split('.')[2]!],
    ['API basic auth header', basic(ADMIN).slice(6)],
    ...pemBody(server.keyPem).map((line, i): [string, string] => [`server key line ${i}`, line]),
    ...pemBody(uploaded.keyPem).map((line, i): [string, string] => [`uploaded key line ${i}`, line]),
  ]
  t.ok(needles.length > 15, `${needles.length} secrets searched for`)
  for (const [name, secret] of needles) {
    t.notOk(logged.includes(secret), `${name} is not in the log`)
    t.notOk(answered.includes(secret), `${name} is not in an API answer`)
  }
})

t.test('the secret-free log still says who was refused and why', async (t) => {
  const refusals = b.logs.filter((l) => l.msg === 'authentication refused')
  t.ok(refusals.some((l) => l.clientid === 'c-alice-5' && /password/i.test(String(l.reason))), 'a wrong password')
  t.ok(refusals.some((l) => l.clientid === 'c-jwt-user-5' && l.reason === 'token expired'), 'an expired token')
})
