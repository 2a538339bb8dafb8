// Seed 001's device-certificate flow end to end: `culex certs device`, CA registration over the API, a
// device connecting with its chain (auto-registered), deactivate (dropped and refused), activate, delete
// and reconnect (registered again), unregistered and deactivated CAs refused, RSA and EC devices, and
// the registry surviving a restart on the lmdb store.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { createCa, runCertsCli, type Issued } from '../../src/certs/index.js'
import { startApiBroker, until, type ApiBroker } from '../api/api-helpers.js'
import { startBroker } from '../helpers.js'
import { basePki, failureFrom, mqttTry, pkiDir, writeFiles, type BasePki } from '../listeners/tls-helpers.js'

type Teardown = Parameters<typeof mqttTry>[2]

interface Device { cert: string, key: string, chain: string, serial: string }

/** `culex certs device` in-process: the files seed 001 makes with openssl. */
async function issueDevice (dir: string, caFiles: Record<string, string>, cn: string, key = 'ec256'): Promise<Device> {
  let out = ''
  const code = await runCertsCli(['device', '--ca', caFiles.cert!, '--ca-key', caFiles.key!, '--cn', cn, '--key', key, '--out', join(dir, cn)], { out: (s) => { out += s }, err: (s) => { out += s } })
  if (code !== 0) throw new Error(out)
  const read = (suffix: string) => readFile(join(dir, `${cn}${suffix}`), 'utf8')
  const [cert, keyPem, chain] = await Promise.all([read('.pem'), read('.key'), read('_chain.pem')])
  return { cert, key: keyPem, chain, serial: /device serial ([0-9A-F]+)/.exec(out)![1]! }
}

async function writeCa (dir: string, name: string, ca: Issued): Promise<Record<string, string>> {
  const files = await writeFiles(dir, { [`${name}.pem`]: ca.certPem, [`${name}.key`]: ca.keyPem })
  return { cert: files[`${name}.pem`]!, key: files[`${name}.key`]! }
}

const registryListener = (pki: BasePki, extra: Record<string, unknown> = {}) => ({
  tcp: { default: { bind: '127.0.0.1:0' } },
  ssl: {
    default: {
      bind: '127.0.0.1:0',
      ssl_options: {
        certfile: pki.files['server.pem'], keyfile: pki.files['server.key'], cacertfile: pki.files['ca.pem'],
        verify: 'verify_peer', fail_if_no_peer_cert: true, device_registry: true, ...extra,
      },
    },
  },
})

/** An MQTT.js client presenting the device chain (seed 001's order), trusting the server's CA. */
const connectDevice = (b: ApiBroker, pki: BasePki, device: Device, t: Teardown, clientId = `dev-${device.serial.slice(0, 8)}`) =>
  mqttTry(b.broker.port('ssl'), { cert: device.chain, key: device.key, ca: pki.ca.certPem, servername: 'localhost', clientId }, t)

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase()

t.test('seed 001: register a CA, connect a device, deactivate, activate, delete, reconnect', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const ecCa = await createCa({ cn: 'Device CA EC', key: 'ec256' })
  const ecCaFiles = await writeCa(dir, 'device-ca-ec', ecCa)
  const device = await issueDevice(dir, ecCaFiles, 'client-test')
  t.equal(device.chain.match(/BEGIN CERTIFICATE/g)?.length, 2, 'the chain file holds the device and the CA')
  t.ok(device.chain.startsWith(device.cert.trimEnd()), 'device certificate first, then the CA')
  t.equal(serialOf(device.cert), device.serial, 'the printed serial is the certificate\'s')

  const b = await startApiBroker(t, { keys: ['admin-key:admin-secret'], config: { listeners: registryListener(pki) } })

  // Before its CA is registered, the device is not trusted at all.
  const early = await connectDevice(b, pki, device, t)
  t.notOk(early.client, 'a device of an unregistered CA is refused')
  t.match(await failureFrom(b, early.localPort), { reason: 'unknown_ca' })

  const reg = await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: ecCa.certPem } })
  t.equal(reg.status, 201, reg.text)
  t.match(reg.json, { serial: serialOf(ecCa.certPem), cn: 'Device CA EC', status: 'active' })
  const caSerial = reg.json.serial as string
  t.equal((await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: ecCa.certPem } })).status, 409, 'a serial registers once')

  // The trust set follows the registry: no restart.
  const first = await connectDevice(b, pki, device, t)
  t.ok(first.client, `the device connects once its CA is registered (${first.error?.message ?? ''})`)
  const listed = await b.call(`/api/v5/device_certs?ca_serial=${caSerial}`)
  t.equal(listed.json.data.length, 1, 'listed by CA serial')
  t.match(listed.json.data[0], { serial: device.serial, cn: 'client-test', ca_serial: caSerial, status: 'active' })
  t.equal((await b.call('/api/v5/device_certs?like_cn=CLIENT-T')).json.data.length, 1, 'found by part of its CN, any case')
  t.equal((await b.call(`/api/v5/device_certs?like_serial=${device.serial.slice(2, 10).toLowerCase()}`)).json.data.length, 1, 'found by part of its serial')
  t.equal((await b.call('/api/v5/device_certs?like_cn=nobody')).json.data.length, 0, 'a CN nobody has finds nothing')
  const firstSeen = listed.json.data[0].first_seen as string
  t.equal((await b.call(`/api/v5/device_certs/${device.serial}`)).json.serial, device.serial, 'queried by device serial')

  // Deactivate: the connected client is dropped, new connections are refused with the reason.
  const closed = new Promise<void>((resolve) => first.client!.once('close', () => resolve()))
  const off = await b.call(`/api/v5/device_certs/${device.serial}`, { method: 'PUT', json: { status: 'inactive' } })
  t.equal(off.json.status, 'inactive')
  await closed
  t.pass('the connected device was disconnected')
  const refused = await connectDevice(b, pki, device, t)
  t.notOk(refused.client, 'a deactivated device is refused')
  t.match(await failureFrom(b, refused.localPort), { reason: 'device_inactive', msg: /deactivated/ })
  t.ok((b.broker.core.metrics.tlsFailures.device_inactive ?? 0) >= 1, 'counted as device_inactive')

  // Activate again.
  await b.call(`/api/v5/device_certs/${device.serial}`, { method: 'PUT', json: { status: 'active' } })
  const again = await connectDevice(b, pki, device, t)
  t.ok(again.client, 'an activated device connects')
  again.client!.end(true)

  // Delete: registered again at the next connection.
  t.equal((await b.call(`/api/v5/device_certs/${device.serial}`, { method: 'DELETE' })).status, 204)
  t.equal((await b.call(`/api/v5/device_certs/${device.serial}`)).status, 404, 'gone after delete')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const back = await connectDevice(b, pki, device, t)
  t.ok(back.client, 'a deleted device connects while its CA is active')
  const reRegistered = (await b.call(`/api/v5/device_certs/${device.serial}`)).json
  t.equal(reRegistered.status, 'active', 'registered again')
  t.not(reRegistered.first_seen, firstSeen, 'as a new registration')

  // A client certificate from a CA that cacertfile trusts but the registry does not know.
  const stranger = await mqttTry(b.broker.port('ssl'), { cert: pki.client.certPem, key: pki.client.keyPem, ca: pki.ca.certPem, servername: 'localhost' }, t)
  t.notOk(stranger.client, 'a certificate of an unregistered CA is refused')
  t.match(await failureFrom(b, stranger.localPort), { reason: 'ca_not_registered', msg: /not registered/ })

  // Deleting the CA drops and refuses its devices.
  const dropped = new Promise<void>((resolve) => back.client!.once('close', () => resolve()))
  t.equal((await b.call(`/api/v5/ca_certs/${caSerial}`, { method: 'DELETE' })).status, 204)
  await dropped
  t.pass('the devices of a deleted CA are disconnected')
  const orphan = await connectDevice(b, pki, device, t)
  t.notOk(orphan.client, 'a device of a deleted CA is refused')
})

t.test('RSA and EC devices; a deactivated CA refuses its devices by name', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const rsaCa = await createCa({ cn: 'Device CA RSA', key: 'rsa2048' })
  const rsaCaFiles = await writeCa(dir, 'device-ca-rsa', rsaCa)
  const rsaDevice = await issueDevice(dir, rsaCaFiles, 'rsa-device', 'rsa2048')
  const ecDevice = await issueDevice(dir, rsaCaFiles, 'ec-device', 'ec256')
  const b = await startApiBroker(t, { keys: ['admin-key:admin-secret'], config: { listeners: registryListener(pki) } })
  const caSerial = (await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: rsaCa.certPem } })).json.serial as string

  const rsa = await connectDevice(b, pki, rsaDevice, t)
  const ec = await connectDevice(b, pki, ecDevice, t)
  t.ok(rsa.client && ec.client, 'an RSA and an EC device connect')
  t.equal((await b.call(`/api/v5/device_certs?ca_serial=${caSerial}`)).json.meta.count, 2, 'both registered under their CA')

  const bothClosed = Promise.all([rsa, ec].map((d) => new Promise<void>((resolve) => d.client!.once('close', () => resolve()))))
  t.equal((await b.call(`/api/v5/ca_certs/${caSerial}`, { method: 'PUT', json: { status: 'inactive' } })).json.status, 'inactive')
  await bothClosed
  t.pass('deactivating the CA disconnects its devices')
  const refused = await connectDevice(b, pki, rsaDevice, t)
  t.notOk(refused.client)
  t.match(await failureFrom(b, refused.localPort), { reason: 'ca_inactive' })
  await b.call(`/api/v5/ca_certs/${caSerial}`, { method: 'PUT', json: { status: 'active' } })
  t.ok((await connectDevice(b, pki, rsaDevice, t)).client, 'reactivating the CA admits its devices again')
})

t.test('the API refuses bad registrations with a reason', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const b = await startApiBroker(t, { keys: ['admin-key:admin-secret'] })
  const notCa = await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: pki.client.certPem } })
  t.equal(notCa.status, 400)
  t.match(notCa.json.message, /not a CA certificate/)
  const garbage = await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: 'hello' } })
  t.equal(garbage.status, 400)
  t.match(garbage.json.message, /no PEM certificate/)
  const malformed = await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' } })
  t.equal(malformed.status, 400, 'a PEM block that holds no certificate is a bad request, not an internal error')
  t.match(malformed.json, { code: 'BAD_REQUEST', message: /certificate: certificate 1 in the CA certificate cannot be parsed .*send the CA certificate as PEM/ })
  const expired = await createCa({ cn: 'Old CA', days: 1, startDaysAgo: 3 })
  t.match((await b.call('/api/v5/ca_certs', { method: 'POST', json: { certificate: expired.certPem } })).json.message, /expired/)
  t.equal((await b.call('/api/v5/ca_certs/ABCDEF')).status, 404)
  t.equal((await b.call('/api/v5/device_certs/ABCDEF', { method: 'PUT', json: { status: 'inactive' } })).status, 404)
  t.equal((await b.call('/api/v5/device_certs/ABCDEF', { method: 'PUT', json: { status: 'asleep' } })).status, 400)
  t.equal((await b.call('/api/v5/ca_certs', { auth: '' })).status, 401, 'the registry needs an API key')
})

t.test('device_registry needs verify_peer', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  await t.rejects(startBroker({ listeners: registryListener(pki, { verify: 'verify_none' }) }),
    { code: 'CULEX_ERR_TLS_CONFIG', message: /ssl_options\.device_registry: needs verify = verify_peer/ })
})

t.test('the registry survives a restart on the lmdb store', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const ca = await createCa({ cn: 'Durable CA' })
  const device = await issueDevice(dir, await writeCa(dir, 'durable-ca', ca), 'durable-device')
  const config = { node: { data_dir: join(dir, 'data') }, durable_storage: { backend: 'lmdb' }, listeners: registryListener(pki) }
  const first = await startBroker(config)
  await first.broker.registry.registerCa(ca.certPem)
  const d = await mqttTry(first.broker.port('ssl'), { cert: device.chain, key: device.key, ca: pki.ca.certPem, servername: 'localhost' }, t)
  t.ok(d.client, 'the device connects')
  await until(() => first.broker.registry.device(device.serial), 'device registered')
  await first.broker.registry.setDeviceStatus(device.serial, 'inactive')
  await first.close()

  const second = await startBroker(config)
  t.teardown(() => second.close())
  t.equal(second.broker.registry.ca(serialOf(ca.certPem))?.status, 'active', 'the CA is still registered')
  t.equal(second.broker.registry.device(device.serial)?.status, 'inactive', 'the device keeps its status')
  const refused = await mqttTry(second.broker.port('ssl'), { cert: device.chain, key: device.key, ca: pki.ca.certPem, servername: 'localhost' }, t)
  t.notOk(refused.client, 'and is still refused after the restart, its CA trusted from the store')
  t.match(await failureFrom(second, refused.localPort), { reason: 'device_inactive' })
})
