// Managed certificates on ssl and wss listeners: SNI picks the bundle, the first is the default,
// replacing a bundle serves the new certificate, deleting one drops the clients that used it.
import { X509Certificate } from 'node:crypto'
import t from 'tap'
import mqtt from 'mqtt'
import { createCa, issueClient, issueServer, type Issued } from '../../src/certs/index.js'
import { Broker } from '../../src/index.js'
import { memoryLog, within } from '../helpers.js'
import { handshake, waitForLog } from './tls-helpers.js'

// Seed 000 refuses certificates within 30 days of notBefore: issue them as if made 40 days ago.
const AGED = { startDaysAgo: 40, days: 400 }

async function serverBundle (cn: string, sans: string[]): Promise<{ ca: Issued, leaf: Issued }> {
  const ca = await createCa({ cn: `${cn} CA`, ...AGED, days: 2000 })
  const leaf = await issueServer({ ca, cn, sans, ...AGED })
  return { ca, leaf }
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

t.test('SNI selects the bundle; no or unknown SNI gets the first; replace and delete act at once', async (t) => {
  const { log, lines } = memoryLog()
  const a = await serverBundle('a.example.com', ['a.example.com'])
  const b = await serverBundle('x.b.example.com', ['*.b.example.com'])
  const clientCa = await createCa({ cn: 'Device CA', ...AGED, days: 2000 })
  const device = await issueClient({ ca: clientCa, cn: 'device-1', ...AGED })
  const dir = t.testdir({})
  const broker = new Broker({
    logger: log,
    config: {
      node: { data_dir: dir },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: {
          default: {
            bind: '127.0.0.1:0',
            ssl_options: {
              verify: 'verify_peer',
              managed_certs: [
                { bundle_name: 'bundle-a', sni: 'a.example.com' },
                { bundle_name: 'bundle-b', sni: '*.b.example.com' },
              ],
            },
          },
        },
      },
      sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled' },
      dashboard: { listeners: { http: { enable: false } } },
    },
  })
  await broker.certStore.put({ name: 'bundle-a' }, { key: a.leaf.keyPem, chain: a.leaf.certPem + a.ca.certPem, ca: clientCa.certPem })
  await broker.certStore.put({ name: 'bundle-b' }, { key: b.leaf.keyPem, chain: b.leaf.certPem + b.ca.certPem })
  await broker.start()
  t.teardown(() => broker.close())
  const port = broker.port('ssl')

  t.equal((await handshake(port, { servername: 'a.example.com' })).fingerprint, fingerprint(a.leaf.certPem), 'exact SNI → bundle-a')
  t.equal((await handshake(port, { servername: 'x.b.example.com' })).fingerprint, fingerprint(b.leaf.certPem), 'wildcard SNI → bundle-b')
  t.equal((await handshake(port, { servername: 'other.example.org' })).fingerprint, fingerprint(a.leaf.certPem), 'unknown SNI → first bundle')
  t.equal((await handshake(port, {})).fingerprint, fingerprint(a.leaf.certPem), 'no SNI (connect by IP) → first bundle')
  t.equal((await handshake(port, { servername: 'y.z.b.example.com' })).fingerprint, fingerprint(a.leaf.certPem), 'a wildcard covers one label only')

  // The selected bundle's ca.pem verifies client certificates.
  const mutual = await handshake(port, { servername: 'a.example.com', cert: device.certPem, key: device.keyPem })
  t.ok(mutual.secure && !mutual.closedAfterHandshake, 'a device certificate from bundle-a\'s CA is accepted on bundle-a')
  const foreign = await handshake(port, { servername: 'x.b.example.com', cert: device.certPem, key: device.keyPem })
  t.ok(foreign.closedAfterHandshake || foreign.error, 'bundle-b has no client CA: the same certificate is refused there')

  // A client on bundle-b, verified with b's CA: it must survive a replace and be dropped on delete.
  const onB = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtts', protocolVersion: 5, servername: 'x.b.example.com', ca: b.ca.certPem, reconnectPeriod: 0 })
  await new Promise<void>((resolve, reject) => { onB.once('connect', () => resolve()); onB.once('error', reject) })
  const onA = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtts', protocolVersion: 5, servername: 'a.example.com', ca: a.ca.certPem, reconnectPeriod: 0 })
  await new Promise<void>((resolve, reject) => { onA.once('connect', () => resolve()); onA.once('error', reject) })
  t.teardown(() => { onA.end(true); onB.end(true) })

  const b2 = await issueServer({ ca: b.ca, cn: 'x.b.example.com', sans: ['*.b.example.com'], ...AGED })
  await broker.certStore.put({ name: 'bundle-b' }, { key: b2.keyPem, chain: b2.certPem + b.ca.certPem })
  await waitForLog(lines, (l) => l.msg === 'managed certificates reloaded' && l.trigger === 'bundle global/bundle-b changed')
  t.equal((await handshake(port, { servername: 'x.b.example.com' })).fingerprint, fingerprint(b2.certPem), 'replaced bundle served with no restart')
  t.ok(onB.connected, 'a connection made with the old certificate stays')
  await onB.publishAsync('still/here', 'yes', { qos: 1 })

  const disconnect = new Promise<number | undefined>((resolve) => onB.once('disconnect', (packet) => resolve(packet.reasonCode)))
  await broker.certStore.delete({ name: 'bundle-b' })
  t.equal(await disconnect, 0x98, 'its clients get DISCONNECT 0x98 Administrative action')
  // The bundle's clients are dropped in one pass: a round trip on onA after it shows whether onA was one of them.
  await within(2000, onA.publishAsync('still/here', 'a', { qos: 1 }).catch(() => {}))
  t.ok(onA.connected, 'clients of other bundles stay')
  t.equal((await handshake(port, { servername: 'x.b.example.com' })).fingerprint, fingerprint(a.leaf.certPem), 'a deleted bundle\'s name now gets the default')
  t.ok(lines.some((l) => String(l.msg).includes('clients of a deleted certificate bundle disconnected') && l.bundle === 'global/bundle-b'), 'deletion logged')
})

t.test('a listener naming a bundle that is not in the store does not start', async (t) => {
  const broker = new Broker({
    logger: memoryLog().log,
    config: {
      node: { data_dir: t.testdir({}) },
      dashboard: { listeners: { http: { enable: false } } },
      listeners: { ssl: { default: { bind: '127.0.0.1:0', ssl_options: { managed_certs: [{ bundle_name: 'missing', sni: 'x' }] } } } },
    },
  })
  await t.rejects(broker.start(), { code: 'CULEX_ERR_TLS_CONFIG', message: /bundle global\/missing is not in the certificate store/ })
})
