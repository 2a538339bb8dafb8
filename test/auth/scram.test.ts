// MQTT 5 enhanced authentication with SCRAM (mechanism = scram, backend = built_in_database): the RFC 7677
// test vector at the function level; full SCRAM-SHA-256 and SCRAM-SHA-512 exchanges over raw MQTT 5
// (CONNECT → AUTH 0x18 → AUTH 0x18 → CONNACK with the server signature) against users added through the
// authenticator; wrong password, unknown user, unserved method, an AUTH with another method, re-authentication.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import type { IAuthPacket, IConnackPacket, IConnectPacket } from 'mqtt-packet'
import t from 'tap'
import { SCRAM_AUTHENTICATOR_ID, ScramAuthenticator, ScramExchange, scramKeys, type ScramUser } from '../../src/auth/scram.js'
import { end, memoryLog, rawMqtt, startBroker, type RawMqtt } from '../helpers.js'
import { tempDir } from '../api/api-helpers.js'

type Alg = 'sha256' | 'sha512'
type Test = { teardown: (fn: () => unknown) => void }

/** The client side of SCRAM, written from RFC 5802 independently of the broker's code. */
function scramClient (alg: Alg, user: string, password: string, clientNonce: string) {
  const bare = `n=${user},r=${clientNonce}`
  const hmac = (key: Buffer, text: string) => createHmac(alg, key).update(text).digest()
  return {
    first: `n,,${bare}`,
    final (serverFirst: string) {
      const attrs = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]))
      const salted = pbkdf2Sync(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), alg === 'sha256' ? 32 : 64, alg)
      const clientKey = hmac(salted, 'Client Key')
      const storedKey = createHash(alg).update(clientKey).digest()
      const withoutProof = `c=biws,r=${attrs.r}`
      const authMessage = `${bare},${serverFirst},${withoutProof}`
      const signature = hmac(storedKey, authMessage)
      const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!))
      return {
        nonce: attrs.r!,
        message: `${withoutProof},p=${proof.toString('base64')}`,
        serverFinal: `v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`,
      }
    },
  }
}

async function scramBroker (t: Test, algorithm: Alg) {
  const dataDir = await tempDir(t, 'culex-scram-')
  const b = await startBroker({
    node: { data_dir: dataDir },
    authentication: [{ mechanism: 'scram', backend: 'built_in_database', algorithm, iteration_count: 1024 }],
  })
  t.teardown(() => b.close())
  const auth = b.broker.authn.list().find((a) => a.id === SCRAM_AUTHENTICATOR_ID) as ScramAuthenticator
  return { ...b, auth, dataDir }
}

async function connectWith (t: Test, port: number, method: string, data: string, clientId = 'scram-client'): Promise<RawMqtt> {
  const raw = await rawMqtt(port, 5)
  t.teardown(() => raw.socket.destroy())
  raw.send({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId,
    properties: { authenticationMethod: method, authenticationData: Buffer.from(data) },
  } as IConnectPacket)
  return raw
}

const authPacket = (method: string, data: string): IAuthPacket =>
  ({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: Buffer.from(data) } }) as IAuthPacket

for (const [alg, method] of [['sha256', 'SCRAM-SHA-256'], ['sha512', 'SCRAM-SHA-512']] as const) {
  t.test(`${method}: the full exchange connects, the CONNACK carries the server signature`, async (t) => {
    const b = await scramBroker(t, alg)
    t.same(await b.auth.addUser('alice', 'secret-a', true), { user_id: 'alice', is_superuser: true })
    t.equal(await b.auth.addUser('alice', 'other'), undefined, 'a taken user id is not added twice')
    const stored = readFileSync(join(b.dataDir, 'authn', 'scram-built_in_database.json'), 'utf8')
    t.notMatch(stored, 'secret-a', 'the store keeps keys, never the password')
    t.match(JSON.parse(stored), { users: [{ user_id: 'alice', iteration_count: 1024, is_superuser: true }] })

    const client = scramClient(alg, 'alice', 'secret-a', 'fyko+d2lbbFgONRv9qkxdawL')
    const raw = await connectWith(t, b.tcpPort, method, client.first)
    const challenge = await raw.take('auth')
    t.equal(challenge.reasonCode, 0x18, 'AUTH Continue authentication')
    t.equal(challenge.properties?.authenticationMethod, method)
    const serverFirst = challenge.properties!.authenticationData!.toString()
    t.match(serverFirst, /^r=fyko\+d2lbbFgONRv9qkxdawL[^,]+,s=[^,]+,i=1024$/, 'server-first-message extends the client nonce')
    const final = client.final(serverFirst)
    raw.send(authPacket(method, final.message))
    const connack = await raw.take('connack')
    t.equal(connack.reasonCode, 0, 'CONNACK success')
    t.equal(connack.properties?.authenticationMethod, method)
    t.equal(connack.properties?.authenticationData?.toString(), final.serverFinal, 'server signature verifies')
    t.equal(b.broker.core.clients.get('scram-client')?.client?.isSuperuser, true, 'is_superuser comes from the user')

    // The connection works: a subscription is granted.
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 0 }] })
    t.same((await raw.take('suback')).granted, [0])
  })
}

t.test('MQTT.js v5 completes SCRAM-SHA-256 through handleAuth', async (t) => {
  const b = await scramBroker(t, 'sha256')
  await b.auth.addUser('erin', 'pw-e')
  const client = scramClient('sha256', 'erin', 'pw-e', 'mqttjs-nonce')
  let serverFinal = ''
  const mq = mqtt.connect({
    host: '127.0.0.1', port: b.tcpPort, protocolVersion: 5, clientId: 'mqttjs-scram', reconnectPeriod: 0, connectTimeout: 3000,
    properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(client.first) },
  })
  t.teardown(() => end(mq, true))
  mq.handleAuth = (packet, cb) => {
    const final = client.final(packet.properties!.authenticationData!.toString())
    serverFinal = final.serverFinal
    cb(undefined, authPacket('SCRAM-SHA-256', final.message))
  }
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    mq.once('connect', resolve)
    mq.once('error', reject)
  })
  t.equal(connack.reasonCode, 0)
  t.equal(connack.properties?.authenticationData?.toString(), serverFinal, 'server signature verifies')
})

t.test('wrong password → CONNACK 0x86; unknown user → 0x86', async (t) => {
  const b = await scramBroker(t, 'sha256')
  await b.auth.addUser('bob', 'right')

  const client = scramClient('sha256', 'bob', 'wrong', 'nonce-1')
  const raw = await connectWith(t, b.tcpPort, 'SCRAM-SHA-256', client.first)
  const challenge = await raw.take('auth')
  raw.send(authPacket('SCRAM-SHA-256', client.final(challenge.properties!.authenticationData!.toString()).message))
  t.equal((await raw.take('connack')).reasonCode, 0x86)
  await raw.closed
  t.notOk(b.broker.core.clients.has('scram-client'))

  const stranger = await connectWith(t, b.tcpPort, 'SCRAM-SHA-256', scramClient('sha256', 'nobody', 'x', 'nonce-2').first)
  t.equal((await stranger.take('connack')).reasonCode, 0x86)
  t.notOk(stranger.packets.some((p) => p.cmd === 'auth'), 'no challenge for an unknown user')
  await stranger.closed
  t.ok(b.logs.some((l) => l.msg === 'authentication refused' && l.reasonCode !== undefined), 'the refusal is logged')
})

t.test('a method no authenticator serves → CONNACK 0x8C', async (t) => {
  const plain = await startBroker()
  t.teardown(() => plain.close())
  const raw = await connectWith(t, plain.tcpPort, 'SCRAM-SHA-256', 'n,,n=a,r=b')
  t.equal((await raw.take('connack')).reasonCode, 0x8c, 'no SCRAM authenticator at all')

  const b = await scramBroker(t, 'sha512')
  const other = await connectWith(t, b.tcpPort, 'SCRAM-SHA-256', 'n,,n=a,r=b')
  t.equal((await other.take('connack')).reasonCode, 0x8c, 'the authenticator serves SCRAM-SHA-512 only')
})

t.test('an AUTH with another method → CONNACK 0x82; AUTH 0x19 after CONNACK → DISCONNECT 0x87', async (t) => {
  const b = await scramBroker(t, 'sha256')
  await b.auth.addUser('carol', 'pw')
  const client = scramClient('sha256', 'carol', 'pw', 'nonce-3')
  const raw = await connectWith(t, b.tcpPort, 'SCRAM-SHA-256', client.first)
  const challenge = await raw.take('auth')
  raw.send(authPacket('SCRAM-SHA-512', client.final(challenge.properties!.authenticationData!.toString()).message))
  t.equal((await raw.take('connack')).reasonCode, 0x82)
  await raw.closed

  const again = await connectWith(t, b.tcpPort, 'SCRAM-SHA-256', client.first, 'scram-2')
  const c2 = await again.take('auth')
  again.send(authPacket('SCRAM-SHA-256', client.final(c2.properties!.authenticationData!.toString()).message))
  t.equal((await again.take('connack')).reasonCode, 0)
  again.send({ ...authPacket('SCRAM-SHA-256', client.first), reasonCode: 0x19 })
  t.equal((await again.take('disconnect')).reasonCode, 0x87, 're-authentication is refused')
  await again.closed
})

t.test('RFC 7677 section 3 test vector (SCRAM-SHA-256, user "user", password "pencil")', async (t) => {
  const salt = 'W22ZaJ0SNY7soEsUEjb6gQ=='
  const keys = scramKeys('sha256', 'pencil', Buffer.from(salt, 'base64'), 4096)
  const user: ScramUser = {
    user_id: 'user', salt, iteration_count: 4096, is_superuser: false,
    stored_key: keys.storedKey.toString('base64'), server_key: keys.serverKey.toString('base64'),
  }
  const serverNonce = '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0'
  const nonce = `rOprNGfwEbeRWgbNEkqO${serverNonce}`
  const exchange = new ScramExchange('sha256', (id) => (id === 'user' ? user : undefined), serverNonce)
  const first = await exchange.step(Buffer.from('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'))
  t.equal(first.result, 'continue')
  t.equal(first.result === 'continue' && first.data.toString(), `r=${nonce},s=${salt},i=4096`)
  const last = await exchange.step(Buffer.from(`c=biws,r=${nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`))
  t.equal(last.result, 'ok')
  t.equal(last.result === 'ok' && last.data?.toString(), 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')
  t.equal((await exchange.step(Buffer.from('again'))).result, 'deny', 'nothing after the final step')

  const tampered = new ScramExchange('sha256', () => user, serverNonce)
  await tampered.step(Buffer.from('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'))
  t.match(await tampered.step(Buffer.from(`c=biws,r=${nonce},p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`)), { result: 'deny', reasonCode: 0x86 })
  const wrongNonce = new ScramExchange('sha256', () => user, serverNonce)
  await wrongNonce.step(Buffer.from('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'))
  t.match(await wrongNonce.step(Buffer.from('c=biws,r=other,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')), { result: 'deny' })
  t.match(await new ScramExchange('sha256', () => user).step(Buffer.from('p=tls-unique,,n=user,r=x')), { result: 'deny', reason: /channel binding/ })
})

t.test('users persist in node.data_dir across a restart of the authenticator', async (t) => {
  const dataDir = await tempDir(t, 'culex-scram-')
  const { log } = memoryLog()
  const first = new ScramAuthenticator({ mechanism: 'scram', backend: 'built_in_database', iteration_count: 16 }, { dataDir, log })
  await first.addUser('dave', 'pw')
  await first.close()
  const second = new ScramAuthenticator({ mechanism: 'scram', backend: 'built_in_database' }, { dataDir, log })
  t.same(second.list(), [{ user_id: 'dave', is_superuser: false }])
})

t.test('the SCRAM user is the user name: a CONNECT user name that differs is refused with 0x86 (issue 15 item 7)', async (t) => {
  const b = await scramBroker(t, 'sha256')
  await b.auth.addUser('bob', 'pw-b')
  /** bob proves his own password, sending `username` in CONNECT. */
  const connectAsBob = async (clientId: string, username: string | undefined) => {
    const client = scramClient('sha256', 'bob', 'pw-b', `nonce-${clientId}`)
    const raw = await rawMqtt(b.tcpPort, 5)
    t.teardown(() => raw.socket.destroy())
    raw.send({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId,
      ...(username === undefined ? {} : { username }),
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(client.first) },
    } as IConnectPacket)
    const challenge = await raw.take('auth')
    raw.send(authPacket('SCRAM-SHA-256', client.final(challenge.properties!.authenticationData!.toString()).message))
    return { raw, connack: await raw.take('connack') }
  }

  const admin = await connectAsBob('as-admin', 'admin')
  t.equal(admin.connack.reasonCode, 0x86, 'bob\'s proof with user name admin: Bad user name or password')
  await admin.raw.closed
  t.notOk(b.broker.core.clients.has('as-admin'))
  t.ok(b.logs.some((l) => l.msg === 'authentication refused' && l.clientid === 'as-admin' && /differs/.test(String(l.reason))), 'the refusal is logged with its reason')

  const none = await connectAsBob('no-name', undefined)
  t.equal(none.connack.reasonCode, 0, 'no user name in CONNECT: accepted')
  t.equal(b.broker.core.clients.get('no-name')?.client?.username, 'bob', 'and the SCRAM user becomes the user name')

  const same = await connectAsBob('as-bob', 'bob')
  t.equal(same.connack.reasonCode, 0, 'the same user name: accepted')
  t.equal(b.broker.core.clients.get('as-bob')?.client?.username, 'bob')
})
