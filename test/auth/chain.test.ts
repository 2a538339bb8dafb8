// The authenticator chain: order, ok / ignore / deny, runtime changes through broker.authn,
// per-listener chains, enable_authn, the cert authenticator, and library authenticate hooks.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import t from 'tap'
import mqtt from 'mqtt'
import { SignJWT } from 'jose'
import { connectClient, end, rawConnect, startBroker } from '../helpers.js'
import { makePki, tempDir, writeFiles } from '../certs/pki.js'
import type { Authenticator } from '../../src/auth/types.js'
import type { AuthResult } from '../../src/mqtt/hooks.js'

const hmac = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from('emqxsecret'))

/** Answers by user name: `ok-*` ok, `deny-*` deny, anything else ignore. */
function byName (id: string, calls: string[] = []): Authenticator {
  return {
    id,
    authenticate (_client, { username }): AuthResult {
      calls.push(id)
      if (username?.startsWith(`${id}-ok`)) return { result: 'ok', attrs: { by: id } }
      if (username?.startsWith(`${id}-deny`)) return { result: 'deny', reasonCode: 0x86, reason: `${id} says no` }
      return { result: 'ignore' }
    },
  }
}

async function rc (t: Test, port: number, username?: string, password?: string, v: 4 | 5 = 5): Promise<number> {
  const { raw, connack } = await rawConnect(port, v, { clientId: 'c', ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password: Buffer.from(password) }) })
  t.teardown(() => { raw.socket.destroy() })
  return (v === 5 ? connack.reasonCode : connack.returnCode) ?? -1
}

type Test = { teardown: (fn: () => unknown) => void }

t.test('order and ok / ignore / deny, changed at runtime', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  t.equal(await rc(t, b.tcpPort), 0, 'no authenticator: anonymous allowed')
  const calls: string[] = []
  b.broker.authn.add(byName('a', calls))
  b.broker.authn.add(byName('b', calls))
  t.same(b.broker.authn.list().map((x) => x.id), ['a', 'b'])
  t.equal(await rc(t, b.tcpPort, 'b-ok'), 0, 'a ignores, b accepts')
  t.same(calls, ['a', 'b'])
  calls.length = 0
  t.equal(await rc(t, b.tcpPort, 'a-deny'), 0x86, 'a denies: b never asked')
  t.same(calls, ['a'])
  t.equal(await rc(t, b.tcpPort, 'nobody'), 0x87, 'all ignore: not authorized')
  t.equal(await rc(t, b.tcpPort, 'nobody', undefined, 4), 5, 'v3: 5')
  t.match(b.logs.find((l) => l.msg === 'authentication refused' && l.authenticator === 'a'), { clientid: 'c', listener: 'tcp:default', reason: 'a says no' })
  t.ok(b.logs.some((l) => l.msg === 'authentication refused' && l.authenticator === 'chain'))

  b.broker.authn.add(byName('c', calls), 0)
  t.same(b.broker.authn.list().map((x) => x.id), ['c', 'a', 'b'])
  t.throws(() => b.broker.authn.add(byName('c')), /already/)
  t.equal(await rc(t, b.tcpPort, 'c-ok'), 0)
  t.ok(b.broker.authn.remove('a'))
  t.notOk(b.broker.authn.remove('a'))
  t.equal(await rc(t, b.tcpPort, 'a-deny'), 0x87, 'a is gone: everyone ignores')
  t.ok(b.broker.authn.remove('b'))
  t.ok(b.broker.authn.remove('c'))
  t.equal(await rc(t, b.tcpPort), 0, 'chain empty again: anonymous allowed')
})

t.test('library authenticate hooks still decide', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  b.broker.addHook('authenticate', (_c, { username }) => (username === 'hooked' ? { result: 'ok' } : { result: 'ignore' }))
  b.broker.authn.add(byName('a'))
  t.equal(await rc(t, b.tcpPort, 'hooked'), 0, 'the chain ignores, the hook accepts')
  t.equal(await rc(t, b.tcpPort, 'a-ok'), 0)
  t.equal(await rc(t, b.tcpPort, 'a-deny'), 0x86)
  t.equal(await rc(t, b.tcpPort, 'other'), 0x87)
})

t.test('per-listener chain replaces the global one; enable_authn', async (t) => {
  const b = await startBroker({
    authentication: [{ mechanism: 'jwt', secret: 'emqxsecret' }],
    listeners: {
      tcp: {
        default: { bind: '127.0.0.1:0' },
        open: { bind: '127.0.0.1:0', enable_authn: false },
        quick: { bind: '127.0.0.1:0', enable_authn: 'quick_deny_anonymous', authentication: [] },
        own: { bind: '127.0.0.1:0', authentication: [{ mechanism: 'jwt', from: 'username', secret: 'other' }, { mechanism: 'cert', enable: false }] },
      },
      ws: { default: { bind: '127.0.0.1:0', authentication: [] } },
    },
  })
  t.teardown(() => b.close())
  const token = await hmac({ exp: Math.floor(Date.now() / 1000) + 60 })
  t.equal(await rc(t, b.tcpPort), 0x87, 'global chain: anonymous refused')
  t.equal(await rc(t, b.tcpPort, 'u', token), 0)
  t.equal(await rc(t, b.broker.port('tcp', 'open')), 0, 'enable_authn = false')
  t.equal(await rc(t, b.broker.port('tcp', 'quick')), 0, 'empty chain: anonymous allowed even with quick_deny_anonymous')
  const own = b.broker.port('tcp', 'own')
  t.equal(await rc(t, own, 'u', token), 0x87, 'the global secret does not apply')
  const ownToken = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from('other'))
  t.equal(await rc(t, own, ownToken), 0, 'its own chain: token in the user name')
  t.same(b.broker.authn.list('tcp:own').map((a) => a.id), ['jwt'], 'a disabled authenticator is not in the chain')
  const ws = mqtt.connect(`ws://127.0.0.1:${b.wsPort}/mqtt`, { reconnectPeriod: 0, connectTimeout: 3000 })
  t.teardown(() => end(ws, true))
  await new Promise<void>((resolve, reject) => { ws.once('connect', () => resolve()); ws.once('error', reject) })
  t.pass('ws listener with authentication = []: anonymous allowed')

  b.broker.authn.add(byName('q'), undefined, 'tcp:quick')
  t.equal(await rc(t, b.broker.port('tcp', 'quick')), 0x87, 'quick_deny_anonymous with a chain')
  t.ok(b.logs.some((l) => l.authenticator === 'quick_deny_anonymous'))
})

t.test('cert authenticator: device certificate, else JWT', async (t) => {
  const pki = await makePki()
  const dir = await tempDir(t)
  const files = await writeFiles(dir, { 'ca.pem': pki.ca.certPem, 'server.pem': pki.server.certPem, 'server.key': pki.server.keyPem })
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: { default: { bind: '127.0.0.1:0', ssl_options: { cacertfile: files['ca.pem'], certfile: files['server.pem'], keyfile: files['server.key'], verify: 'verify_peer' } } },
    },
    authentication: [{ mechanism: 'cert' }, { mechanism: 'jwt', secret: 'emqxsecret' }],
  })
  t.teardown(() => b.close())
  const port = b.broker.port('ssl')
  const tls = (extra: Record<string, unknown>) => mqtt.connectAsync({ host: '127.0.0.1', port, protocol: 'mqtts', ca: pki.ca.certPem, servername: 'localhost', reconnectPeriod: 0, connectTimeout: 3000, ...extra })
  const device = await tls({ cert: pki.client.certPem, key: pki.client.keyPem, clientId: 'dev' })
  t.teardown(() => end(device, true))
  t.ok(device.connected, 'the certificate is enough')
  const withToken = await tls({ clientId: 'tok', username: 'u', password: await hmac({}) })
  t.teardown(() => end(withToken, true))
  t.ok(withToken.connected, 'no certificate: the token decides')
  await t.rejects(tls({ clientId: 'none' }), 'neither: refused')
  t.equal(await rc(t, b.tcpPort), 0x87, 'plain TCP has no certificate')
})

t.test('mosquitto_pub -u -P with a token', { skip: existsSync('/usr/bin/mosquitto_pub') ? false : 'mosquitto_pub is not installed' }, async (t) => {
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', secret: 'emqxsecret' }] })
  t.teardown(() => b.close())
  const pub = (password: string) => new Promise<number | null>((resolve) => {
    const child = spawn('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.tcpPort), '-t', 't', '-m', 'x', '-u', 'u', '-P', password], { stdio: 'ignore', timeout: 5000 })
    child.on('close', resolve)
  })
  const sub = await connectClient(b.tcpPort, { username: 'u', password: await hmac({}) })
  t.teardown(() => end(sub, true))
  t.equal(await pub(await hmac({ exp: Math.floor(Date.now() / 1000) + 60 })), 0)
  t.not(await pub('not-a-token'), 0)
})
