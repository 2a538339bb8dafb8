// A real HAProxy in front of Culex: terminating TLS with two-way authentication and passing the client's
// address and verified certificate CN over PROXY protocol v2 (send-proxy-v2-ssl-cn) to a tcp listener;
// passing TLS through to an ssl listener (send-proxy-v2); and v1 (send-proxy). Clients connect from
// 127.0.0.2 and HAProxy from 127.0.0.3, so the address Culex sees tells which one it took.
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import t from 'tap'
import { issueClient } from '../../src/certs/index.js'
import { ADMIN, startApiBroker, type ApiBroker } from '../api/api-helpers.js'
import { end, until } from '../helpers.js'
import { hasHaproxy, startHaproxy } from './haproxy-helpers.js'
import { basePki, pkiDir, sslOptions, writeFiles } from './tls-helpers.js'

const CLIENT_ADDRESS = '127.0.0.2'

function connected (client: MqttClient): Promise<MqttClient> {
  client.on('error', () => {})
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

/** An MQTT client over TLS to `port` from 127.0.0.2. */
function overTls (port: number, tls: ConnectionOptions, opts: IClientOptions): Promise<MqttClient> {
  return connected(new mqtt.MqttClient(() => tlsConnect({ socket: netConnect({ host: '127.0.0.1', port, localAddress: CLIENT_ADDRESS }), servername: 'localhost', ...tls }),
    { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts }))
}

/** An MQTT client over plain TCP to `port` from 127.0.0.2. */
function overTcp (port: number, opts: IClientOptions): Promise<MqttClient> {
  return connected(new mqtt.MqttClient(() => netConnect({ host: '127.0.0.1', port, localAddress: CLIENT_ADDRESS }),
    { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts }))
}

async function record (b: ApiBroker, clientId: string): Promise<Record<string, unknown>> {
  const r = await b.call(`/api/v5/clients/${encodeURIComponent(clientId)}`)
  if (r.status !== 200) throw new Error(`client ${clientId}: ${r.status} ${r.text}`)
  return r.json as Record<string, unknown>
}

if (!hasHaproxy) {
  t.plan(0, 'haproxy not installed')
} else {
  const dir = await pkiDir(t)
  const pki = await basePki(dir, 'ec256', 'sensor-17')
  const other = await issueClient({ ca: pki.ca, cn: 'sensor-99', key: 'ec256' })
  const files = await writeFiles(dir, {
    'haproxy.pem': pki.server.certPem + pki.server.keyPem,
    'other.pem': other.certPem,
    'other.key': other.keyPem,
  })
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      mqtt: { peer_cert_as_username: 'cn' },
      // Only clients with a verified certificate: the cert authenticator, on the listeners behind TLS.
      authentication: [{ mechanism: 'cert' }],
      listeners: {
        tcp: {
          default: { bind: '127.0.0.1:0', proxy_protocol: true },
          v1: { bind: '127.0.0.1:0', proxy_protocol: true, enable_authn: false },
        },
        ssl: { default: { bind: '127.0.0.1:0', proxy_protocol: true, ssl_options: sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true }) } },
      },
    },
  })
  const ports = await startHaproxy(t, dir, [
    { name: 'terminate', bind: `ssl crt ${files['haproxy.pem']} ca-file ${pki.files['ca.pem']} verify required`, target: b.tcpPort, server: 'send-proxy-v2-ssl-cn' },
    { name: 'passthrough', target: b.broker.port('ssl'), server: 'send-proxy-v2' },
    { name: 'v1', target: b.broker.port('tcp', 'v1'), server: 'send-proxy' },
  ])
  const clientCert = { ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem }

  t.test('HAProxy terminates TLS (verify required) and sends send-proxy-v2-ssl-cn: the CN is the user name, the address the client\'s', async (t) => {
    const c = await overTls(ports.terminate!, clientCert, { clientId: 'term-1', username: 'claimed-name' })
    t.teardown(() => end(c, true))
    t.match(await record(b, 'term-1'), {
      username: 'sensor-17', ip_address: CLIENT_ADDRESS, listener: 'tcp:default', is_ssl: true, tls_version: /^TLSv1\.[23]$/, cert_common_name: 'sensor-17',
    })
    const second = await overTls(ports.terminate!, { ...clientCert, cert: other.certPem, key: other.keyPem }, { clientId: 'term-2' })
    t.teardown(() => end(second, true))
    t.match(await record(b, 'term-2'), { username: 'sensor-99' }, 'each client its own CN')
  })

  t.test('a client without a certificate is refused by HAProxy and never reaches Culex', async (t) => {
    await t.rejects(overTls(ports.terminate!, { ca: pki.ca.certPem }, { clientId: 'no-cert' }))
    const list = await b.call('/api/v5/clients?clientid=no-cert')
    t.equal(list.json.data.length, 0)
  })

  t.test('a ban on the client\'s address (peerhost and peerhost_net) refuses it behind HAProxy', async (t) => {
    const ban = await b.call('/api/v5/banned', { method: 'POST', json: { as: 'peerhost', who: CLIENT_ADDRESS } })
    t.equal(ban.status, 200)
    const refused = overTls(ports.terminate!, clientCert, { clientId: 'banned-1' })
    await t.rejects(refused, { code: 0x8a }, 'CONNACK 0x8A (banned)')
    await until(() => b.logs.find((l) => l.as === 'peerhost' && l.who === CLIENT_ADDRESS), 'the refusal is logged with the ban')
    await b.call(`/api/v5/banned/peerhost/${CLIENT_ADDRESS}`, { method: 'DELETE' })
    await b.call('/api/v5/banned', { method: 'POST', json: { as: 'peerhost_net', who: '127.0.0.2/32' } })
    await t.rejects(overTls(ports.terminate!, clientCert, { clientId: 'banned-2' }), { code: 0x8a }, 'a network ban too')
    await b.call(`/api/v5/banned/peerhost_net/${encodeURIComponent('127.0.0.2/32')}`, { method: 'DELETE' })
    const c = await overTls(ports.terminate!, clientCert, { clientId: 'unbanned' })
    t.teardown(() => end(c, true))
    t.pass('unbanned: connects again')
  })

  t.test('HAProxy in TCP mode passes TLS through to the ssl listener with send-proxy-v2', async (t) => {
    const c = await overTls(ports.passthrough!, clientCert, { clientId: 'through-1' })
    t.teardown(() => end(c, true))
    t.match(await record(b, 'through-1'), { username: 'sensor-17', ip_address: CLIENT_ADDRESS, listener: 'ssl:default', is_ssl: true, cert_common_name: 'sensor-17' })
    await t.rejects(overTls(ports.passthrough!, { ca: pki.ca.certPem }, { clientId: 'through-none' }), 'Culex\'s own two-way TLS still refuses a client without a certificate')
  })

  t.test('v1 (send-proxy) on a plain tcp listener', async (t) => {
    const c = await overTcp(ports.v1!, { clientId: 'v1-1', username: 'plain-user' })
    t.teardown(() => end(c, true))
    t.match(await record(b, 'v1-1'), { username: 'plain-user', ip_address: CLIENT_ADDRESS, listener: 'tcp:v1', is_ssl: false })
  })
}
