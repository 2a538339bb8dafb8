// The built-in password database authenticator over real connections: MQTT.js v5, raw v3.1/v3.1.1
// CONNECTs and mosquitto_pub; is_superuser; user_id_type = clientid; users kept across a restart in
// node.data_dir; the bootstrap file (CSV and JSON, plain and hash).
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { PasswordAuthenticator } from '../../src/auth/password.js'
import { connectClient, end, rawConnect, startBroker, within, type TestBroker } from '../helpers.js'
import { tempDir } from '../api/api-helpers.js'

type Test = { teardown: (fn: () => unknown) => void }

/** A broker whose global chain holds only a password database built from `config`. */
async function passwordBroker (t: Test, dataDir: string, config: Record<string, unknown> = {}) {
  const b = await startBroker({ node: { data_dir: dataDir } })
  t.teardown(() => b.close())
  const auth = new PasswordAuthenticator({ mechanism: 'password_based', backend: 'built_in_database', ...config }, { dataDir, log: b.broker.log })
  b.broker.authn.add(auth)
  await auth.ready
  return { ...b, auth }
}

const connackCode = (p: { reasonCode?: number, returnCode?: number }) => p.reasonCode ?? p.returnCode

function superuserOf (b: TestBroker, clientId: string): boolean | undefined {
  return b.broker.core.clients.get(clientId)?.client?.isSuperuser
}

t.test('the right password connects, a wrong one is refused 0x86 (v3: 4), an unknown user is not authorized', async (t) => {
  const dataDir = await tempDir(t, 'culex-pw-')
  const b = await passwordBroker(t, dataDir, { password_hash_algorithm: { name: 'sha256', salt_position: 'suffix' } })
  await b.auth.add('alice', 'secret-a')
  await b.auth.add('root', 'secret-r', true)

  const alice = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'c-alice', username: 'alice', password: 'secret-a' })
  t.teardown(() => end(alice, true))
  t.equal(superuserOf(b, 'c-alice'), false, 'alice is not a superuser')
  const root = await connectClient(b.tcpPort, { clientId: 'c-root', username: 'root', password: 'secret-r' })
  t.teardown(() => end(root, true))
  t.equal(superuserOf(b, 'c-root'), true, 'is_superuser is carried on the client')

  const wrong = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'c-wrong', username: 'alice', password: 'nope' }).catch((e: { code?: number }) => e)
  t.equal((wrong as { code?: number }).code, 0x86, 'MQTT.js sees 0x86 Bad User Name or Password')

  for (const [version, expected] of [[5, 0x86], [4, 4], [3, 4]] as const) {
    const { raw, connack } = await rawConnect(b.tcpPort, version, { clientId: `raw${version}`, username: 'alice', password: Buffer.from('bad') })
    t.equal(connackCode(connack), expected, `v${version} wrong password → ${expected}`)
    t.ok(await within(2000, raw.closed), 'and the connection is closed')
  }
  // Alone in the chain, an unknown user (ignore) is refused as not authorized.
  const unknown = await rawConnect(b.tcpPort, 5, { clientId: 'u1', username: 'mallory', password: Buffer.from('x') })
  t.equal(connackCode(unknown.connack), 0x87)
  const unknown3 = await rawConnect(b.tcpPort, 4, { clientId: 'u2', username: 'mallory', password: Buffer.from('x') })
  t.equal(connackCode(unknown3.connack), 5)
  // As EMQX 5: no password is a bad user name or password, for known, unknown and anonymous clients alike.
  for (const username of ['alice', 'mallory', undefined]) {
    const noPassword = await rawConnect(b.tcpPort, 5, { clientId: `np-${username}`, username })
    t.equal(connackCode(noPassword.connack), 0x86, `no password, username ${username}`)
  }
})

t.test('an unknown user is ignored: the next authenticator decides', async (t) => {
  const dataDir = await tempDir(t, 'culex-pw-')
  const b = await passwordBroker(t, dataDir)
  await b.auth.add('alice', 'secret-a')
  b.broker.authn.add({ id: 'accept-all', authenticate: () => ({ result: 'ok' }) })
  const other = await connectClient(b.tcpPort, { clientId: 'c-bob', username: 'bob', password: 'whatever' })
  t.teardown(() => end(other, true))
  t.ok(other.connected, 'bob, unknown to the database, is accepted by the next authenticator')
  const { connack } = await rawConnect(b.tcpPort, 5, { clientId: 'c-alice', username: 'alice', password: Buffer.from('bad') })
  t.equal(connackCode(connack), 0x86, 'a known user with a wrong password is denied before the next one is asked')
})

let hasMosquitto = true
try { execFileSync('which', ['mosquitto_pub']) } catch { hasMosquitto = false }

t.test('mosquitto_pub -u -P with the right and a wrong password', { skip: hasMosquitto ? false : 'mosquitto_pub not installed' }, async (t) => {
  const dataDir = await tempDir(t, 'culex-pw-')
  const b = await passwordBroker(t, dataDir, { password_hash_algorithm: { name: 'bcrypt', salt_rounds: 5 } })
  await b.auth.add('sensor', 's3cret')
  const pub = (password: string) => new Promise<{ code: number, stderr: string }>((resolve) => {
    execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(b.tcpPort), '-V', 'mqttv311', '-i', 'mosq', '-u', 'sensor', '-P', password, '-t', 't', '-m', 'hi'],
      { timeout: 5000 }, (err, _stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stderr }))
  })
  const good = await pub('s3cret')
  t.equal(good.code, 0, `connects and publishes: ${good.stderr}`)
  const bad = await pub('wrong')
  t.not(bad.code, 0)
  t.match(bad.stderr, /bad user name or password/i)
})

t.test('user_id_type = clientid looks the client id up', async (t) => {
  const dataDir = await tempDir(t, 'culex-pw-')
  const b = await passwordBroker(t, dataDir, { user_id_type: 'clientid', password_hash_algorithm: { name: 'pbkdf2', mac_fun: 'sha256', iterations: 100 } })
  await b.auth.add('device-1', 'pw1')
  const c = await connectClient(b.tcpPort, { clientId: 'device-1', username: 'anything', password: 'pw1' })
  t.teardown(() => end(c, true))
  t.ok(c.connected)
  const { connack } = await rawConnect(b.tcpPort, 5, { clientId: 'device-1', username: 'x', password: Buffer.from('pw2') })
  t.equal(connackCode(connack), 0x86)
})

t.test('users outlive a restart: kept in node.data_dir/authn, mode 0600', async (t) => {
  const dataDir = await tempDir(t, 'culex-pw-')
  const config = { password_hash_algorithm: { name: 'sha512', salt_position: 'prefix' } }
  const first = await passwordBroker(t, dataDir, config)
  await first.auth.add('alice', 'secret-a', true)
  await first.auth.add('bob', 'secret-b')
  t.ok(await first.auth.delete('bob'))
  await first.close()

  const file = join(dataDir, 'authn', 'password_based-built_in_database.json')
  t.equal(statSync(file).mode & 0o777, 0o600)
  const stored = JSON.parse(readFileSync(file, 'utf8')) as { users: { user_id: string, password_hash: string, salt: string }[] }
  t.same(stored.users.map((u) => u.user_id), ['alice'])
  t.match(stored.users[0]!.password_hash, /^[0-9a-f]{128}$/, 'the hash, never the password')
  t.notMatch(readFileSync(file, 'utf8'), /secret-a/)

  const second = await passwordBroker(t, dataDir, config)
  const c = await connectClient(second.tcpPort, { clientId: 'c-alice', username: 'alice', password: 'secret-a' })
  t.teardown(() => end(c, true))
  t.equal(superuserOf(second, 'c-alice'), true)
  const { connack } = await rawConnect(second.tcpPort, 5, { clientId: 'c-bob', username: 'bob', password: Buffer.from('secret-b') })
  t.equal(connackCode(connack), 0x87, 'the deleted user stays deleted')
})

t.test('bootstrap files: CSV plain, JSON hash; imported only into an empty store', async (t) => {
  const dataDir = await tempDir(t, 'culex-pw-')
  const csv = join(dataDir, 'users.csv')
  await writeFile(csv, 'user_id,password,is_superuser\nalice,pa,true\n"bob",pb,false\n\n')
  const csvBroker = await passwordBroker(t, join(dataDir, 'a'), { bootstrap_file: csv, bootstrap_type: 'plain', password_hash_algorithm: { name: 'bcrypt', salt_rounds: 5 } })
  t.same(csvBroker.auth.list(), [{ user_id: 'alice', is_superuser: true }, { user_id: 'bob', is_superuser: false }])
  const c = await connectClient(csvBroker.tcpPort, { clientId: 'c1', username: 'alice', password: 'pa' })
  t.teardown(() => end(c, true))
  t.equal(superuserOf(csvBroker, 'c1'), true)

  // sha256 with a suffix salt, as an export from another system would carry it.
  const json = join(dataDir, 'users.json')
  const hash = 'f2ef7f9aedb2c3b5040bc16691a1177758a92ad91e1ee77770215a332bf6099f' // sha256("salt" + "public")
  await writeFile(json, JSON.stringify([{ user_id: 'carol', password_hash: hash, salt: 'salt', is_superuser: false }]))
  const jsonDir = join(dataDir, 'b')
  const hashConfig = { bootstrap_file: json, bootstrap_type: 'hash', password_hash_algorithm: { name: 'sha256', salt_position: 'prefix' } }
  const jsonBroker = await passwordBroker(t, jsonDir, hashConfig)
  const carol = await connectClient(jsonBroker.tcpPort, { clientId: 'c2', username: 'carol', password: 'public' })
  t.teardown(() => end(carol, true))
  t.ok(carol.connected)
  t.ok(await jsonBroker.auth.delete('carol'))
  await jsonBroker.auth.add('dave', 'pd')
  await jsonBroker.close()
  const again = await passwordBroker(t, jsonDir, hashConfig)
  t.same(again.auth.list().map((u) => u.user_id), ['dave'], 'a store with users is not bootstrapped again')

  const missing = await passwordBroker(t, join(dataDir, 'c'), { bootstrap_file: join(dataDir, 'absent.csv') })
  t.equal(missing.auth.list().length, 0)
  t.ok(missing.logs.some((l) => l.level === 40 && /bootstrap_file not imported: ENOENT/.test(String(l.msg))), 'a missing file is a warning')
})
