// The alarm certificate_expiring/<listener>[/<bundle>]: raised at start, when the served certificate changes
// and when one enters the 30-day window; cleared when a fresh certificate replaces it. Seen through
// GET /api/v5/alarms and the TLS handshake a client makes.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import mqtt from 'mqtt'
import { X509Certificate } from 'node:crypto'
import { createCa, issueServer, type Issued } from '../../src/certs/index.js'
import { CertStore } from '../../src/certs/store.js'
import { ADMIN, startApiBroker, until } from '../api/api-helpers.js'
import { handshake } from './tls-helpers.js'

const DAY = 86_400_000
const KEYS = [`${ADMIN}:administrator`]

/** A server certificate for 127.0.0.1 whose notAfter is `leftMs` from now (negative: expired). */
async function leaf (ca: Issued, leftMs: number): Promise<Issued> {
  // issue.ts sets notBefore a minute back (clock skew), then notAfter = notBefore + days.
  return issueServer({ ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'], startDaysAgo: 10, days: 10 + (leftMs + 60_000) / DAY })
}

type Alarm = { name: string, activated: boolean, message: string, details: Record<string, unknown> }
const alarmsOf = async (b: { call: (p: string) => Promise<{ json: { data: Alarm[] } }> }, activated: boolean) =>
  (await b.call(`/api/v5/alarms?activated=${activated}`)).json.data.filter((a) => a.name.startsWith('certificate_expiring/'))

t.test('ssl certfile: raised at start while within 30 days of its end, cleared when the file is replaced', async (t) => {
  const dir = t.testdir({})
  const ca = await createCa({ cn: 'Expiry CA', days: 3650 })
  const soon = await leaf(ca, 10 * DAY)
  const files = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ca: join(dir, 'ca.pem') }
  await writeFile(files.cert, soon.certPem)
  await writeFile(files.key, soon.keyPem)
  await writeFile(files.ca, ca.certPem)
  const b = await startApiBroker(t, {
    keys: KEYS,
    config: {
      alarm: { actions: ['log'] },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: { certfile: files.cert, keyfile: files.key, cacertfile: files.ca } } },
      },
    },
  })
  const [raised] = await alarmsOf(b, true)
  t.match(raised, {
    name: 'certificate_expiring/ssl:default',
    activated: true,
    message: /certificate CN=localhost served by listener ssl:default .*expires at .*in (9|10) days/,
    details: { listener: 'ssl:default', certfile: files.cert, subject: 'CN=localhost', expired: false, threshold_days: 30, not_after: /^\d{4}-/ },
  })
  t.ok(b.logs.some((l) => l.alarm === 'certificate_expiring/ssl:default' && l.level === 40), 'logged at warning')

  // A fresh certificate written over the file: reloaded, and the alarm clears.
  const fresh = await leaf(ca, 400 * DAY)
  await writeFile(files.key, fresh.keyPem)
  await writeFile(files.cert, fresh.certPem)
  await until(async () => (await alarmsOf(b, true)).length === 0, 'alarm cleared after the reload', 10_000)
  t.match(await alarmsOf(b, false), [{ name: 'certificate_expiring/ssl:default', activated: false }], 'kept as history')
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${b.broker.port('ssl')}`, { ca: ca.certPem, reconnectPeriod: 0, connectTimeout: 5000 })
  t.ok(client.connected, 'the listener serves the new certificate')
  await client.endAsync()

  // An expired one written back: raised again, saying it has expired.
  const expired = await leaf(ca, -2 * DAY)
  await writeFile(files.key, expired.keyPem)
  await writeFile(files.cert, expired.certPem)
  const again = await until(async () => (await alarmsOf(b, true))[0], 'raised again for the expired certificate', 10_000)
  t.match(again, { message: /expired at/, details: { expired: true } })
})

t.test('raised when a served certificate enters the window while the listener runs', async (t) => {
  const dir = t.testdir({})
  const ca = await createCa({ cn: 'Expiry CA', days: 3650 })
  const cert = await leaf(ca, 30 * DAY + 3000)
  await writeFile(join(dir, 'server.pem'), cert.certPem)
  await writeFile(join(dir, 'server.key'), cert.keyPem)
  const b = await startApiBroker(t, {
    keys: KEYS,
    config: {
      alarm: { actions: [] },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: { certfile: join(dir, 'server.pem'), keyfile: join(dir, 'server.key'), cacertfile: join(dir, 'none.pem') } } },
      },
    },
  })
  t.same(await alarmsOf(b, true), [], 'not yet within 30 days at start')
  const raised = await until(async () => (await alarmsOf(b, true))[0], 'raised once 30 days are left', 15_000)
  t.match(raised, { name: 'certificate_expiring/ssl:default', details: { expired: false } })
})

t.test('managed bundles on wss: one alarm per bundle, cleared when the bundle is replaced or deleted', async (t) => {
  const ca = await createCa({ cn: 'Bundle CA', days: 3650, startDaysAgo: 40 })
  const good = await issueServer({ ca, cn: 'a.example.com', sans: ['a.example.com'], startDaysAgo: 40, days: 400 })
  const soon = await issueServer({ ca, cn: 'b.example.com', sans: ['b.example.com'], startDaysAgo: 40, days: 45 })
  const dataDir = t.testdir({})
  const store = new CertStore(dataDir)
  await store.put({ name: 'a' }, { key: good.keyPem, chain: good.certPem + ca.certPem })
  // Seed 000's upload rule refuses a certificate this close to its end; an operator's bundle reaches it with time.
  await store.put({ name: 'b' }, { key: soon.keyPem, chain: soon.certPem + ca.certPem }, { ignoreValidityWindow: true })
  const b = await startApiBroker(t, {
    keys: KEYS,
    config: {
      node: { data_dir: dataDir },
      alarm: { actions: [] },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        wss: {
          default: {
            bind: '127.0.0.1:0',
            ssl_options: { managed_certs: [{ bundle_name: 'a', sni: 'a.example.com' }, { bundle_name: 'b', sni: 'b.example.com' }] },
          },
        },
      },
    },
  })
  const [raised, ...others] = await alarmsOf(b, true)
  t.same(others, [], 'only bundle b is near its end')
  t.match(raised, { name: 'certificate_expiring/wss:default/global/b', details: { bundle: 'global/b', subject: 'CN=b.example.com' } })

  const renewed = await issueServer({ ca, cn: 'b.example.com', sans: ['b.example.com'], startDaysAgo: 40, days: 400 })
  const put = await b.call('/api/v5/certs/global/name/b', { method: 'POST', json: { key: renewed.keyPem, chain: renewed.certPem + ca.certPem } })
  t.equal(put.status, 204, put.text)
  await until(async () => (await alarmsOf(b, true)).length === 0, 'cleared once bundle b is renewed', 10_000)
  t.equal((await handshake(b.broker.port('wss'), { servername: 'b.example.com' })).fingerprint, new X509Certificate(renewed.certPem).fingerprint256, 'the renewed bundle is served')

  await b.broker.certStore.put({ name: 'b' }, { key: soon.keyPem, chain: soon.certPem + ca.certPem }, { ignoreValidityWindow: true })
  await until(async () => (await alarmsOf(b, true)).length === 1, 'raised again for the old certificate', 10_000)
  t.equal((await b.call('/api/v5/certs/global/name/b', { method: 'DELETE' })).status, 204)
  await until(async () => (await alarmsOf(b, true)).length === 0, 'cleared once bundle b is deleted', 10_000)
})
