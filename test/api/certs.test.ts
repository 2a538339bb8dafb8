// /api/v5/certs: upload a bundle as JSON or multipart (files or fields, as curl -F sends them), list,
// read (paths only, never the key), delete one file or the bundle, namespaces, and 400s naming the rule.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import mqtt from 'mqtt'
import t from 'tap'
import { createCa, issueServer, type Issued } from '../../src/certs/index.js'
import { Broker } from '../../src/index.js'
import { memoryLog } from '../helpers.js'
import { handshake } from '../listeners/tls-helpers.js'
import { ADMIN, call, startApiBroker, tempDir, until } from './api-helpers.js'

// Seed 000 refuses certificates within 30 days of notBefore: issue them as if made 40 days ago.
const AGED = { startDaysAgo: 40, days: 400 }

let ca: Issued
let leaf: Issued
let other: Issued

t.before(async () => {
  ca = await createCa({ cn: 'API Test CA', ...AGED, days: 2000 })
  leaf = await issueServer({ ca, cn: 'mqtt.example.com', sans: ['mqtt.example.com'], ...AGED })
  other = await issueServer({ ca, cn: 'other.example.com', sans: ['other.example.com'], ...AGED })
})

t.test('JSON upload, list, info without the key, delete one file, delete the bundle', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  t.same((await b.call('/api/v5/certs/global/list')).json, [])

  const up = await b.call('/api/v5/certs/global/name/bundle1', { method: 'POST', json: { key: leaf.keyPem, chain: leaf.certPem, ca: ca.certPem } })
  t.equal(up.status, 204, up.text)
  t.same((await b.call('/api/v5/certs/global/list')).json, [{ name: 'bundle1' }])

  const info = await b.call('/api/v5/certs/global/name/bundle1')
  t.equal(info.status, 200)
  t.same(Object.keys(info.json).sort(), ['ca', 'chain', 'key'])
  t.match(info.json.key.path, /certs\/global\/bundle1\/key\.pem$/)
  t.notMatch(info.text, /PRIVATE KEY/, 'the key\'s content is never shown')
  t.equal(await readFile(info.json.chain.path, 'utf8'), leaf.certPem, 'chain.pem holds what was uploaded')
  t.same(await b.broker.certStore.read({ name: 'bundle1' }).then((p) => p?.chain), leaf.certPem, 'the broker\'s store has it')

  const partial = await b.call('/api/v5/certs/global/name/bundle1?kind=ca', { method: 'DELETE' })
  t.equal(partial.status, 204)
  t.same(Object.keys((await b.call('/api/v5/certs/global/name/bundle1')).json).sort(), ['chain', 'key'], 'only ca.pem went')
  t.equal((await b.call('/api/v5/certs/global/name/bundle1?kind=ca', { method: 'DELETE' })).status, 404, 'no ca left to delete')
  t.equal((await b.call('/api/v5/certs/global/name/bundle1?kind=cert', { method: 'DELETE' })).json.code, 'BAD_REQUEST', 'kind is ca, key or chain')

  t.equal((await b.call('/api/v5/certs/global/name/bundle1', { method: 'DELETE' })).status, 204)
  const gone = await b.call('/api/v5/certs/global/name/bundle1')
  t.equal(gone.status, 404)
  t.equal(gone.json.code, 'NOT_FOUND')
  t.equal((await b.call('/api/v5/certs/global/name/bundle1', { method: 'DELETE' })).status, 404)
  t.same((await b.call('/api/v5/certs/global/list')).json, [])
})

t.test('multipart upload with files and fields, as curl -F sends it; namespaced bundles', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const form = new FormData()
  form.append('key', new Blob([leaf.keyPem], { type: 'application/x-pem-file' }), 'key.pem')
  form.append('chain', new Blob([leaf.certPem]), 'chain.pem')
  form.append('ca', ca.certPem)
  const up = await b.call('/api/v5/certs/ns/tenant-a/name/edge', { method: 'POST', body: form })
  t.equal(up.status, 204, up.text)
  t.same((await b.call('/api/v5/certs/ns/tenant-a/list')).json, [{ name: 'edge' }])
  t.same((await b.call('/api/v5/certs/global/list')).json, [], 'not in the global namespace')
  const info = await b.call('/api/v5/certs/ns/tenant-a/name/edge')
  t.match(info.json.chain.path, /certs\/tenant-a\/edge\/chain\.pem$/)
  const pem = await b.broker.certStore.read({ namespace: 'tenant-a', name: 'edge' })
  t.equal(pem?.chain, leaf.certPem, 'the file part was stored as sent')
  t.equal(pem?.ca, ca.certPem, 'the plain field too')
  t.equal(await b.call('/api/v5/certs/global/name/edge').then((r) => r.status), 404)

  // A partial update: the new chain and key replace the old ones, ca.pem stays.
  const update = new FormData()
  update.append('key', new Blob([other.keyPem]), 'k.pem')
  update.append('chain', new Blob([other.certPem]), 'c.pem')
  t.equal((await b.call('/api/v5/certs/ns/tenant-a/name/edge', { method: 'POST', body: update })).status, 204)
  const after = await b.broker.certStore.read({ namespace: 'tenant-a', name: 'edge' })
  t.equal(after?.chain, other.certPem)
  t.equal(after?.ca, ca.certPem)
  t.equal((await b.call('/api/v5/certs/ns/tenant-a/name/edge', { method: 'DELETE' })).status, 204)
  t.same((await b.call('/api/v5/certs/ns/tenant-a/list')).json, [])
})

t.test('a refused bundle is a 400 naming the rule, and nothing is written', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const mismatch = await b.call('/api/v5/certs/global/name/bad', { method: 'POST', json: { key: other.keyPem, chain: leaf.certPem, ca: ca.certPem } })
  t.equal(mismatch.status, 400)
  t.equal(mismatch.json.code, 'BAD_REQUEST')
  t.match(mismatch.json.message, /^rule key_match: /, 'a key that does not match the certificate')
  t.match(mismatch.json, { field: 'key', rule: 'key_match' }, 'the body names the field and the rule')

  const form = new FormData()
  form.append('chain', new Blob(['not a certificate\n']), 'chain.pem')
  const notPem = await b.call('/api/v5/certs/global/name/bad', { method: 'POST', body: form })
  t.equal(notPem.status, 400)
  t.match(notPem.json.message, /^rule pem: /, 'multipart refusals name the rule too')
  t.match(notPem.json, { field: 'chain', rule: 'pem' })

  const empty = await b.call('/api/v5/certs/global/name/bad', { method: 'POST', json: {} })
  t.equal(empty.status, 400)
  t.match(empty.json.message, /at least one of key, chain, ca/)
  t.same((await b.call('/api/v5/certs/global/list')).json, [], 'nothing was stored')

  const badName = await b.call('/api/v5/certs/global/name/..%2Fetc', { method: 'POST', json: { chain: leaf.certPem } })
  t.equal(badName.status, 400, 'a name that is not letters, digits, _ . - is refused')
  t.equal(badName.json.code, 'BAD_REQUEST')
  t.match(badName.json, { field: 'name', rule: 'name' })

  const text = await b.call('/api/v5/certs/global/name/bad', { method: 'POST', body: 'key=x', headers: { 'content-type': 'text/plain' } })
  t.equal(text.status, 415, 'neither JSON nor multipart')
  t.equal(text.json.code, 'UNSUPPORTED_MEDIA_TYPE')
})

t.test('?ignore_validity_window=true accepts a certificate issued today, and logs that the rule was overridden', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const fresh = await issueServer({ ca, cn: 'fresh.example.com', sans: ['fresh.example.com'], days: 90 })
  const upload = { key: fresh.keyPem, chain: fresh.certPem + ca.certPem }
  const refused = await b.call('/api/v5/certs/global/name/fresh', { method: 'POST', json: upload })
  t.equal(refused.status, 400)
  t.match(refused.json.message, /rule validity_window: .*less than 30 days ago/)
  const accepted = await b.call('/api/v5/certs/global/name/fresh?ignore_validity_window=true', { method: 'POST', json: upload })
  t.equal(accepted.status, 204, accepted.text)
  t.ok(b.logs.some((l) => l.level === 40 && /rule validity_window overridden: the certificate .*fresh\.example\.com/.test(String(l.msg))), 'a warning names the override')
})

t.test('uploads need a key like every other write', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const r = await b.call('/api/v5/certs/global/name/x', { method: 'POST', json: { chain: leaf.certPem }, auth: '' })
  t.equal(r.status, 401)
  t.equal((await b.call('/api/v5/certs/global/list', { auth: '' })).status, 401)
})

t.test('the listeners serve what the API uploads, and drop their clients when it deletes the bundle', async (t) => {
  const dataDir = await tempDir(t)
  const broker = new Broker({
    logger: memoryLog().log,
    config: {
      node: { data_dir: dataDir },
      listeners: { ssl: { default: { bind: '127.0.0.1:0', ssl_options: { managed_certs: [{ bundle_name: 'live', sni: 'mqtt.example.com' }] } } } },
      dashboard: { listeners: { http: { bind: '127.0.0.1:0' } } },
      sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled' },
    },
  })
  await broker.certStore.put({ name: 'live' }, { key: leaf.keyPem, chain: leaf.certPem + ca.certPem })
  await broker.start()
  t.teardown(() => broker.close())
  const port = broker.port('ssl')
  const base = `http://127.0.0.1:${broker.apiPort()}`
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

  const client = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtts', protocolVersion: 5, servername: 'mqtt.example.com', ca: ca.certPem, reconnectPeriod: 0 })
  client.on('error', () => {})
  t.teardown(() => { client.end(true) })
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('close', () => reject(new Error('closed'))) })

  const form = new FormData()
  form.append('key', new Blob([other.keyPem]), 'key.pem')
  form.append('chain', new Blob([other.certPem + ca.certPem]), 'chain.pem')
  // Without an API key a form upload needs an Origin naming the API itself (src/api/origin.ts).
  t.equal((await call(base, '/api/v5/certs/global/name/live', { method: 'POST', body: form, headers: { origin: base } })).status, 204)
  await until(async () => (await handshake(port, { servername: 'mqtt.example.com' })).fingerprint === fingerprint(other.certPem), 'the uploaded certificate is served')
  t.pass('the uploaded certificate is served without a restart')

  const disconnect = new Promise<number | undefined>((resolve) => client.once('disconnect', (p) => resolve(p.reasonCode)))
  t.equal((await call(base, '/api/v5/certs/global/name/live', { method: 'DELETE' })).status, 204)
  t.equal(await disconnect, 0x98, 'the bundle\'s clients are dropped with 0x98')
})

t.test('each refusal names the upload field it concerns and the rule', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const encrypted = await issueServer({ ca, cn: 'enc.example.com', sans: ['enc.example.com'], keyPassword: 'pw', ...AGED })
  const expired = await issueServer({ ca, cn: 'old.example.com', sans: ['old.example.com'], startDaysAgo: 400, days: 100 })
  const cases: [string, Record<string, string>, string, string][] = [
    ['chain reversed', { key: leaf.keyPem, chain: ca.certPem + leaf.certPem }, 'chain', 'chain_order'],
    ['no issuer', { key: leaf.keyPem, chain: leaf.certPem }, 'chain', 'chain_complete'],
    ['key is not PEM', { key: 'just text', chain: leaf.certPem, ca: ca.certPem }, 'key', 'pem'],
    ['certificate in ca is a key', { chain: leaf.certPem, ca: leaf.keyPem }, 'ca', 'pem'],
    ['encrypted key without password', { key: encrypted.keyPem, chain: encrypted.certPem, ca: ca.certPem }, 'key_password', 'key_password'],
    ['wrong password', { key: encrypted.keyPem, chain: encrypted.certPem, ca: ca.certPem, key_password: 'nope' }, 'key_password', 'key_password'],
    ['expired', { key: expired.keyPem, chain: expired.certPem, ca: ca.certPem }, 'chain', 'validity_window'],
  ]
  for (const [what, json, field, rule] of cases) {
    const r = await b.call('/api/v5/certs/global/name/bad', { method: 'POST', json })
    t.equal(r.status, 400, what)
    t.match(r.json, { code: 'BAD_REQUEST', field, rule, message: new RegExp(`^rule ${rule}: `) }, `${what}: ${field} / ${rule}`)
  }
  const good = await b.call('/api/v5/certs/global/name/good', { method: 'POST', json: { key: encrypted.keyPem, chain: encrypted.certPem, ca: ca.certPem, key_password: 'pw' } })
  t.equal(good.status, 204, 'the password decrypts the key')
})

t.test('/certs/bundles lists every namespace\'s bundles with their certificates and the listeners serving them', async (t) => {
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: { listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, ssl: { default: { enable: false, bind: '127.0.0.1:0', ssl_options: { managed_certs: [{ bundle_name: 'site', sni: 'mqtt.example.com' }] } } } } },
  })
  t.same((await b.call('/api/v5/certs/bundles')).json, { data: [] }, 'none yet')
  t.equal((await b.call('/api/v5/certs/global/name/site', { method: 'POST', json: { key: leaf.keyPem, chain: leaf.certPem, ca: ca.certPem } })).status, 204)
  t.equal((await b.call('/api/v5/certs/ns/tenant-a/name/spare', { method: 'POST', json: { chain: other.certPem + ca.certPem } })).status, 204)
  t.equal((await b.call('/api/v5/listeners/ssl:default/start', { method: 'POST' })).status, 200, 'the listener starts once its bundle exists')
  const list = await b.call('/api/v5/certs/bundles')
  t.equal(list.status, 200, list.text)
  t.equal(list.json.data.length, 2)
  const [site, spare] = list.json.data
  t.match(site, {
    namespace: 'global', name: 'site', files: ['key', 'chain', 'ca'],
    leaf: { subject: /CN=mqtt\.example\.com/, issuer: /CN=API Test CA/, sans: ['DNS:mqtt.example.com'], expired: false },
    ca: [{ subject: /CN=API Test CA/ }],
    used_by: [{ listener: 'ssl:default', sni: 'mqtt.example.com', running: true, connections: 0 }],
  })
  t.match(spare, { namespace: 'tenant-a', name: 'spare', files: ['chain'], leaf: { subject: /CN=other\.example\.com/ }, ends_first: { subject: /CN=/ }, ca: [], used_by: [] })
  t.notMatch(list.text, /PRIVATE KEY/, 'never the key')
})
