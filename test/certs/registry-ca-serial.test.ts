// The device registry keys devices by (CA, serial): a tenant whose CA issues a certificate with another
// CA's device serial neither blocks that device nor reaches it through the API; records stored by serial
// alone (before this keying) are read and re-keyed.
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { createCa, type Issued } from '../../src/certs/index.js'
import { openKvStore } from '../../src/store/kv.js'
import type { DeviceRecord } from '../../src/certs/registry.js'
import { startApiBroker, until, type ApiBroker } from '../api/api-helpers.js'
import { startBroker } from '../helpers.js'
import { basePki, failureFrom, mqttTry, pkiDir, writeFiles, type BasePki } from '../listeners/tls-helpers.js'
import { openssl } from './pki.js'

type Teardown = Parameters<typeof mqttTry>[2]
interface Device { cert: string, key: string, serial: string }

const SERIAL = '5E41A1C0FFEE'

/** A client certificate with a chosen serial, signed by `ca` with openssl (as a tenant's own CA would). */
async function deviceWithSerial (dir: string, ca: Issued, name: string, serialHex: string): Promise<Device> {
  const files = await writeFiles(dir, { [`${name}-ca.pem`]: ca.certPem, [`${name}-ca.key`]: ca.keyPem, [`${name}.ext`]: 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' })
  const [key, csr, cert] = ['key', 'csr', 'pem'].map((ext) => join(dir, `${name}.${ext}`)) as [string, string, string]
  const req = await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', `/CN=${name}`, '-out', csr)
  if (req.code !== 0) throw new Error(req.stderr)
  const sign = await openssl('x509', '-req', '-in', csr, '-CA', files[`${name}-ca.pem`]!, '-CAkey', files[`${name}-ca.key`]!, '-set_serial', `0x${serialHex}`, '-days', '30', '-extfile', files[`${name}.ext`]!, '-out', cert)
  if (sign.code !== 0) throw new Error(sign.stderr)
  const { readFile } = await import('node:fs/promises')
  const pem = await readFile(cert, 'utf8')
  return { cert: pem, key: await readFile(key, 'utf8'), serial: new X509Certificate(pem).serialNumber.toUpperCase() }
}

const registryListener = (pki: BasePki) => ({
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

const connect = (port: number, pki: BasePki, device: Device, t: Teardown, clientId: string) =>
  mqttTry(port, { cert: device.cert, key: device.key, ca: pki.ca.certPem, servername: 'localhost', clientId }, t)

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase()

t.test('a serial registered under CA B neither blocks nor reaches the device with that serial under CA A', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const caA = await createCa({ cn: 'Tenant A CA' })
  const caB = await createCa({ cn: 'Tenant B CA' })
  const devA = await deviceWithSerial(dir, caA, 'dev-a', SERIAL)
  const devB = await deviceWithSerial(dir, caB, 'dev-b', SERIAL)
  t.equal(devA.serial, devB.serial, 'both certificates carry the same serial')
  const b: ApiBroker = await startApiBroker(t, { keys: ['admin-key:admin-secret'], config: { listeners: registryListener(pki) } })
  const port = b.broker.port('ssl')
  const [a, bb] = [serialOf(caA.certPem), serialOf(caB.certPem)]
  for (const ca of [caA, caB]) t.equal((await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: ca.certPem } })).status, 201)

  const first = await connect(port, pki, devB, t, 'dev-b')
  t.ok(first.client, 'tenant B\'s device registers the serial first')
  const victim = await connect(port, pki, devA, t, 'dev-a')
  t.ok(victim.client, `the device of CA A with the same serial still connects (${victim.error?.message ?? ''})`)
  t.same((await b.call(`/api/v5/device_certs?ca_serial=${a}`)).json.data.map((d: DeviceRecord) => d.cn), ['dev-a'], 'registered under its own CA')
  t.same((await b.call(`/api/v5/device_certs?ca_serial=${bb}`)).json.data.map((d: DeviceRecord) => d.cn), ['dev-b'])

  const ambiguous = await b.call(`/api/v5/device_certs/${SERIAL}`)
  t.equal(ambiguous.status, 400, 'a serial two CAs share needs ?ca_serial=')
  t.match(ambiguous.json.message, new RegExp(`registered under 2 CAs .*${a}|registered under 2 CAs .*${bb}`))
  t.equal((await b.call(`/api/v5/device_certs/${SERIAL}?ca_serial=${a}`)).json.cn, 'dev-a', 'named by CA and serial')
  t.equal((await b.call(`/api/v5/device_certs/${SERIAL}`, { method: 'PUT', json: { status: 'inactive' } })).status, 400, 'no change without naming the CA')

  // Tenant B deactivates "its" serial: only its own device goes.
  const bClosed = new Promise<void>((resolve) => first.client!.once('close', () => resolve()))
  const off = await b.call(`/api/v5/device_certs/${SERIAL}?ca_serial=${bb}`, { method: 'PUT', json: { status: 'inactive' } })
  t.match(off.json, { cn: 'dev-b', ca_serial: bb, status: 'inactive' })
  await bClosed
  await new Promise<void>((resolve, reject) => victim.client!.publish('still/here', 'x', { qos: 1 }, (err) => err ? reject(err) : resolve()))
  t.ok(b.broker.core.clients.has('dev-a'), 'the device of CA A stays connected')
  t.equal((await b.call(`/api/v5/device_certs/${SERIAL}?ca_serial=${a}`)).json.status, 'active', 'and active')
  const again = await connect(port, pki, devA, t, 'dev-a-2')
  t.ok(again.client, 'and keeps connecting')
  const refused = await connect(port, pki, devB, t, 'dev-b-2')
  t.notOk(refused.client)
  t.match(await failureFrom(b, refused.localPort), { reason: 'device_inactive' }, 'tenant B\'s own device is the one refused')

  t.equal((await b.call(`/api/v5/device_certs/${SERIAL}?ca_serial=${bb}`, { method: 'DELETE' })).status, 204)
  t.equal((await b.call(`/api/v5/device_certs/${SERIAL}`)).json.cn, 'dev-a', 'with one CA left, the serial alone finds the device again')
})

t.test('records stored by serial alone are read and re-keyed by (CA, serial)', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const ca = await createCa({ cn: 'Legacy CA' })
  const dev = await deviceWithSerial(dir, ca, 'legacy-dev', SERIAL)
  const dataDir = join(dir, 'data')
  const config = { node: { data_dir: dataDir }, durable_storage: { backend: 'lmdb' }, listeners: registryListener(pki) }
  const first = await startBroker(config)
  await first.broker.registry.registerCa(ca.certPem)
  await first.close()

  // The record as the serial-keyed registry wrote it: deactivated.
  const store = openKvStore('lmdb', dataDir)
  const now = new Date().toISOString()
  const legacy: DeviceRecord = { serial: dev.serial, subject: 'CN=legacy-dev', cn: 'legacy-dev', ca_serial: serialOf(ca.certPem), not_after: now, fingerprint: new X509Certificate(dev.cert).fingerprint256, status: 'inactive', first_seen: now, last_seen: now }
  await store.table<DeviceRecord>('device_certs').put(dev.serial, legacy)
  await store.close()

  const second = await startBroker(config)
  t.teardown(() => second.close())
  const refused = await connect(second.broker.port('ssl'), pki, dev, t, 'legacy')
  t.notOk(refused.client, 'the migrated record keeps its status')
  t.match(await failureFrom(second, refused.localPort), { reason: 'device_inactive' })
  t.equal(second.broker.registry.device(dev.serial, serialOf(ca.certPem))?.status, 'inactive', 'found by (CA, serial)')
  const table = second.broker.store.table<DeviceRecord>('device_certs')
  await until(() => [...table.entries()].every(([key]) => key.includes(':')), 'the old key to be replaced')
  t.same([...table.entries()].map(([key]) => key), [`${serialOf(ca.certPem)}:${dev.serial}`], 'stored under CA:serial only')
})
