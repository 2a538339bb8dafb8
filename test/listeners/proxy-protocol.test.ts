// proxy_protocol on tcp, ssl, ws and wss listeners, with headers written by the test (HAProxy's own are in
// proxy-haproxy.test.ts): the header's address is the client's everywhere, a connection without a valid
// header is closed, logged and counted, access_rules match the proxied address, and a listener without
// proxy_protocol never trusts a header.
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import WebSocket, { createWebSocketStream } from 'ws'
import { delay, end, rawSocket, until, within } from '../helpers.js'
import { ADMIN, startApiBroker, type ApiBroker } from '../api/api-helpers.js'
import { basePki, pkiDir, sslOptions } from './tls-helpers.js'

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

const tlv = (type: number, value: Buffer | string): Buffer => {
  const v = typeof value === 'string' ? Buffer.from(value) : value
  const head = Buffer.from([type, 0, 0])
  head.writeUInt16BE(v.length, 1)
  return Buffer.concat([head, v])
}

/** A v2 PROXY TCP4 header from `src`:`port` to 127.0.0.1:1883, with TLVs. */
function v2 (src: string, port: number, tlvs: Buffer[] = []): Buffer {
  const addr = Buffer.alloc(12)
  src.split('.').forEach((b, i) => { addr[i] = Number(b) })
  Buffer.from([127, 0, 0, 1]).copy(addr, 4)
  addr.writeUInt16BE(port, 8)
  addr.writeUInt16BE(1883, 10)
  const body = Buffer.concat([addr, ...tlvs])
  const head = Buffer.from([0x21, 0x11, 0, 0])
  head.writeUInt16BE(body.length, 2)
  return Buffer.concat([SIG, head, body])
}

/** PP2_TYPE_SSL with client bits, verify and a common name. */
const sslTlv = (client: number, verify: number, cn: string): Buffer => {
  const fixed = Buffer.from([client, 0, 0, 0, 0])
  fixed.writeUInt32BE(verify, 1)
  return tlv(0x20, Buffer.concat([fixed, tlv(0x21, 'TLSv1.3'), tlv(0x22, cn)]))
}

/** An MQTT.js client over a socket that first sends `header`, in two writes (a proxy may split it). */
function viaProxy (port: number, header: Buffer, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = new mqtt.MqttClient(() => {
    const socket = netConnect({ host: '127.0.0.1', port })
    socket.write(header.subarray(0, 5))
    socket.write(header.subarray(5))
    return socket
  }, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  return connected(client)
}

function connected (client: MqttClient): Promise<MqttClient> {
  // Errors after CONNACK (or after a refusal) are the test's to look at, not the process's to throw.
  client.on('error', () => {})
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

async function clientRecord (b: ApiBroker, clientId: string): Promise<Record<string, unknown>> {
  const r = await b.call(`/api/v5/clients/${clientId}`)
  if (r.status !== 200) throw new Error(`client ${clientId}: ${r.status} ${r.text}`)
  return r.json as Record<string, unknown>
}

const failures = async (b: ApiBroker, listener: string, reason: string): Promise<number> => {
  const text = (await b.call('/api/v5/prometheus/stats')).text
  const line = text.split('\n').find((l) => l.startsWith(`culex_proxy_protocol_failures_total{listener="${listener}",reason="${reason}"}`))
  return line ? Number(line.split(' ').pop()) : 0
}

async function proxyBroker (t: Test, tcp: Record<string, unknown> = {}, config: Record<string, unknown> = {}): Promise<ApiBroker> {
  return startApiBroker(t, {
    keys: [ADMIN],
    config: {
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0', proxy_protocol: true, proxy_protocol_timeout: '1s', ...tcp }, plain: { bind: '127.0.0.1:0' } },
        ws: { default: { bind: '127.0.0.1:0', proxy_protocol: true, websocket: { proxy_address_header: 'x-forwarded-for' } } },
      },
      ...config,
    },
  })
}

/** A broker whose `type` listener (ssl or wss) reads a PROXY header, then asks for a client certificate whose CN is the user name. */
async function tlsProxyBroker (t: Test, type: 'ssl' | 'wss', cn: string) {
  const pki = await basePki(await pkiDir(t), 'ec256', cn)
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      mqtt: { peer_cert_as_username: 'cn' },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        [type]: { default: { bind: '127.0.0.1:0', proxy_protocol: true, ssl_options: sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true }) } },
      },
    },
  })
  return { pki, b }
}

t.test('tcp: the v1 and v2 header\'s client address and port are the client\'s in /api/v5/clients and logs', async (t) => {
  const b = await proxyBroker(t)
  const one = await viaProxy(b.tcpPort, Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40001 1883\r\n'), { clientId: 'v1-client' })
  const two = await viaProxy(b.tcpPort, v2('198.51.100.20', 40002), { clientId: 'v2-client' })
  t.teardown(() => Promise.all([end(one, true), end(two, true)]))
  t.match(await clientRecord(b, 'v1-client'), { ip_address: '203.0.113.7', port: 40001, is_ssl: false })
  t.match(await clientRecord(b, 'v2-client'), { ip_address: '198.51.100.20', port: 40002 })
  const ip = await b.call('/api/v5/clients?ip_address=198.51.100.20')
  t.same((ip.json.data as { clientid: string }[]).map((c) => c.clientid), ['v2-client'], 'ip_address filter on the proxied address')
})

t.test('tcp: packets that come in the same read as the header are the client\'s first, in order', async (t) => {
  const b = await proxyBroker(t)
  const CONNECT = Buffer.from('101000044d5154540402003c0004736f6c6f', 'hex') // client id "solo"
  const PINGREQ = Buffer.from('c000', 'hex')
  const one = await rawSocket(b.tcpPort)
  t.teardown(() => { one.socket.destroy() })
  one.socket.write(Buffer.concat([v2('192.0.2.10', 4242), CONNECT, PINGREQ]))
  await until(() => one.received().length >= 6, 'CONNACK and PINGRESP')
  t.same(one.received(), Buffer.from('20020000d000', 'hex'), 'CONNACK, then PINGRESP: nothing after the header was lost or reordered')
  t.match(await clientRecord(b, 'solo'), { ip_address: '192.0.2.10', port: 4242 })
  // The header's end and the CONNECT's start in one write, after a first part of the header alone.
  const header = v2('192.0.2.11', 4243)
  const two = await rawSocket(b.tcpPort)
  t.teardown(() => { two.socket.destroy() })
  two.socket.write(header.subarray(0, 7))
  await delay(50)
  two.socket.write(Buffer.concat([header.subarray(7), CONNECT.subarray(0, 5)]))
  await delay(50)
  two.socket.write(CONNECT.subarray(5))
  await until(() => two.received().length >= 4, 'CONNACK')
  t.same(two.received().subarray(0, 4), Buffer.from('20020000', 'hex'), 'a CONNECT split across the header\'s last read and the next one is read whole')
})

t.test('tcp: LOCAL (a health check) and UNKNOWN keep the socket\'s own address', async (t) => {
  const b = await proxyBroker(t)
  const local = Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0, 0])])
  const c = await viaProxy(b.tcpPort, local, { clientId: 'local' })
  const u = await viaProxy(b.tcpPort, Buffer.from('PROXY UNKNOWN\r\n'), { clientId: 'unknown' })
  t.teardown(() => Promise.all([end(c, true), end(u, true)]))
  t.match(await clientRecord(b, 'local'), { ip_address: '127.0.0.1' })
  t.match(await clientRecord(b, 'unknown'), { ip_address: '127.0.0.1' })
})

t.test('tcp: no header, a wrong one or none in time: closed, logged with the reason, counted', async (t) => {
  const b = await proxyBroker(t)
  const plain = await rawSocket(b.tcpPort)
  plain.socket.write(Buffer.from('100c00044d5154540402003c0000', 'hex'))
  t.ok(await within(5000, plain.closed), 'an MQTT CONNECT without a header is closed')
  t.equal(plain.received().length, 0, 'and answered nothing')
  const bad = await rawSocket(b.tcpPort)
  bad.socket.write('PROXY TCP4 203.0.113.7 127.0.0.1 99999 1883\r\n')
  t.ok(await within(5000, bad.closed), 'a malformed header is closed')
  const silent = await rawSocket(b.tcpPort)
  silent.socket.write('PROXY TCP4 203.0.113.')
  t.ok(await within(5000, silent.closed), 'a header not complete within proxy_protocol_timeout is closed')
  for (const reason of ['not_proxy', 'malformed', 'timeout']) {
    await until(() => b.logs.find((l) => l.reason === reason && l.listener === 'tcp:default' && String(l.msg).startsWith('connection closed')), `a log line for ${reason}`)
    t.equal(await failures(b, 'tcp:default', reason), 1, `culex_proxy_protocol_failures_total ${reason}`)
  }
})

t.test('a listener without proxy_protocol never trusts a header: it is a malformed MQTT packet', async (t) => {
  const b = await proxyBroker(t)
  const plainPort = b.broker.port('tcp', 'plain')
  const s = await rawSocket(plainPort)
  // "PR": a PUBREC of 82 bytes as the first packet, not a CONNECT.
  s.socket.write(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40001 1883\r\n'), Buffer.alloc(100)]))
  t.ok(await within(5000, s.closed), 'closed')
  const s2 = await rawSocket(plainPort)
  s2.socket.write(Buffer.concat([v2('203.0.113.7', 1), Buffer.from('100c00044d5154540402003c0000', 'hex')]))
  t.ok(await within(5000, s2.closed), 'a v2 header too')
  t.equal((await b.call('/api/v5/clients')).json.data.length, 0, 'no client')
})

t.test('access_rules match the address from the header', async (t) => {
  const b = await proxyBroker(t, { access_rules: ['deny 203.0.113.0/24', 'allow all'] })
  const denied = await rawSocket(b.tcpPort)
  denied.socket.write(Buffer.concat([v2('203.0.113.9', 1), Buffer.from('100c00044d5154540402003c0000', 'hex')]))
  t.ok(await within(5000, denied.closed), 'a proxied client in a denied network is closed')
  await until(() => b.logs.find((l) => l.rule === 'deny 203.0.113.0/24' && l.peer === '203.0.113.9:1'), 'the refusal names the proxied address')
  const ok = await viaProxy(b.tcpPort, v2('198.51.100.9', 2), { clientId: 'allowed' })
  t.teardown(() => end(ok, true))
  t.match(await clientRecord(b, 'allowed'), { ip_address: '198.51.100.9' }, 'the socket\'s own address (127.0.0.1) is not what the rules see')
})

t.test('tcp: PP2_TYPE_SSL of a verified certificate gives its CN to peer_cert_as_username; an unverified one counts as none', async (t) => {
  const b = await proxyBroker(t, {}, { mqtt: { peer_cert_as_username: 'cn', peer_cert_as_clientid: 'cn' } })
  const c = await viaProxy(b.tcpPort, v2('198.51.100.5', 5, [sslTlv(0x07, 0, 'device-42')]), { clientId: 'ignored', username: 'claimed' })
  t.teardown(() => end(c, true))
  t.match(await clientRecord(b, 'device-42'), { username: 'device-42', ip_address: '198.51.100.5', is_ssl: true, tls_version: 'TLSv1.3', cert_common_name: 'device-42', cert_subject: null })
  const unverified = viaProxy(b.tcpPort, v2('198.51.100.6', 6, [sslTlv(0x07, 20, 'admin')]), { clientId: 'x', username: 'admin' })
  await t.rejects(unverified, 'a certificate the proxy did not verify: refused (no certificate, and the client may not name itself)')
  await until(() => b.logs.find((l) => String(l.msg).includes('did not verify')), 'the unverified certificate is logged')
  const noCert = viaProxy(b.tcpPort, v2('198.51.100.7', 7, [sslTlv(0x01, 0, 'admin')]), { clientId: 'y', username: 'admin' })
  await t.rejects(noCert, 'a CN without a presented certificate: refused')
  const plain = await viaProxy(b.tcpPort, v2('198.51.100.8', 8), { clientId: 'plain-client', username: 'plain' })
  t.teardown(() => end(plain, true))
  t.match(await clientRecord(b, 'plain-client'), { username: 'plain', is_ssl: false }, 'a client that did not use TLS at the proxy names itself as on a plain listener')
})

t.test('ssl: the header is read before the TLS handshake (TCP passthrough); the handshake\'s certificate counts', async (t) => {
  const { pki, b } = await tlsProxyBroker(t, 'ssl', 'passthrough-cn')
  const client = await connected(new mqtt.MqttClient(() => {
    const raw: Socket = netConnect({ host: '127.0.0.1', port: b.broker.port('ssl') })
    raw.write(v2('192.0.2.44', 4444))
    const tls = tlsConnect({ socket: raw, servername: 'localhost', ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem })
    return tls
  }, { clientId: 'tls-client', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }))
  t.teardown(() => end(client, true))
  t.match(await clientRecord(b, 'tls-client'), { ip_address: '192.0.2.44', port: 4444, username: 'passthrough-cn', is_ssl: true, cert_common_name: 'passthrough-cn' })
  const plainTls = await rawSocket(b.broker.port('ssl'))
  plainTls.socket.write(Buffer.from('160301', 'hex'))
  t.ok(await within(5000, plainTls.closed), 'a TLS ClientHello without a header is closed')
  await until(() => b.logs.find((l) => l.reason === 'not_proxy' && l.listener === 'ssl:default'), 'logged for the ssl listener')
})

t.test('ws: the header is read before HTTP, and wins over proxy_address_header', async (t) => {
  const b = await proxyBroker(t, {}, {})
  const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/mqtt`, 'mqtt', {
    createConnection: () => {
      const s = netConnect({ host: '127.0.0.1', port: b.wsPort })
      s.write('PROXY TCP4 203.0.113.80 127.0.0.1 8080 8083\r\n')
      return s
    },
    headers: { 'x-forwarded-for': '10.9.9.9' },
  } as WebSocket.ClientOptions)
  const client = await connected(new mqtt.MqttClient(() => createWebSocketStream(ws), { clientId: 'ws-client', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }))
  t.teardown(() => end(client, true))
  t.match(await clientRecord(b, 'ws-client'), { ip_address: '203.0.113.80', port: 8080, listener: 'ws:default' })
})

t.test('wss: the header is read before the TLS handshake, then HTTP; the verified certificate counts', async (t) => {
  const { pki, b } = await tlsProxyBroker(t, 'wss', 'wss-cn')
  const port = b.broker.port('wss')
  const ws = new WebSocket(`wss://localhost:${port}/mqtt`, 'mqtt', {
    createConnection: () => {
      const raw = netConnect({ host: '127.0.0.1', port })
      raw.write(v2('198.51.100.7', 7777))
      return tlsConnect({ socket: raw, servername: 'localhost', ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem })
    },
  } as WebSocket.ClientOptions)
  const client = await connected(new mqtt.MqttClient(() => createWebSocketStream(ws), { clientId: 'wss-client', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }))
  t.teardown(() => end(client, true))
  t.match(await clientRecord(b, 'wss-client'), { ip_address: '198.51.100.7', port: 7777, listener: 'wss:default', is_ssl: true, username: 'wss-cn' })
  const bare = await rawSocket(port)
  bare.socket.write(Buffer.from('160301', 'hex'))
  t.ok(await within(5000, bare.closed), 'a TLS ClientHello without a header is closed')
  await until(() => b.logs.find((l) => l.reason === 'not_proxy' && l.listener === 'wss:default'), 'logged for the wss listener')
})

t.test('dashboard.listeners.http.proxy_header: the API reads the header; a request without one is closed', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { dashboard: { listeners: { http: { bind: '127.0.0.1:0', proxy_header: true } } } } })
  const port = b.broker.apiPort()
  const request = async (head: string): Promise<string> => {
    const s = await rawSocket(port)
    s.socket.write(`${head}GET /api/v5/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    await within(5000, s.closed)
    return s.received().toString()
  }
  t.match(await request('PROXY TCP4 203.0.113.1 127.0.0.1 1 18083\r\n'), /^HTTP\/1\.1 200/, 'with a header: served')
  t.equal(await request(''), '', 'without one: closed unanswered')
})

t.test('ACL ipaddr, ${peerhost} and ${cert_common_name} see the header\'s address and verified CN', async (t) => {
  const rules = [
    '{allow, {ipaddr, "203.0.113.0/24"}, publish, ["lab/#"]}.',
    '{allow, all, publish, ["host/${peerhost}"]}.',
    '{allow, all, publish, ["cn/${cert_common_name}"]}.',
  ].join('\n')
  const b = await proxyBroker(t, {}, { authorization: { no_match: 'deny', sources: [{ type: 'file', rules }] } })
  const v5 = { protocolVersion: 5 as const }
  const inLab = await viaProxy(b.tcpPort, v2('203.0.113.7', 1), { ...v5, clientId: 'in-lab' })
  const outside = await viaProxy(b.tcpPort, v2('198.51.100.9', 2), { ...v5, clientId: 'outside' })
  const withCert = await viaProxy(b.tcpPort, v2('198.51.100.10', 3, [sslTlv(0x07, 0, 'device-42')]), { ...v5, clientId: 'with-cert' })
  t.teardown(() => Promise.all([inLab, outside, withCert].map((c) => end(c, true))))
  await t.resolves(inLab.publishAsync('lab/x', '1', { qos: 1 }), 'ipaddr rule matches the proxied address')
  await t.rejects(outside.publishAsync('lab/x', '1', { qos: 1 }), 'another proxied address does not match')
  await t.resolves(inLab.publishAsync('host/203.0.113.7', '1', { qos: 1 }), '${peerhost} is the proxied address')
  await t.rejects(inLab.publishAsync('host/127.0.0.1', '1', { qos: 1 }), 'not the proxy\'s')
  await t.resolves(withCert.publishAsync('cn/device-42', '1', { qos: 1 }), '${cert_common_name} is the verified CN from the header')
  await t.rejects(outside.publishAsync('cn/device-42', '1', { qos: 1 }), 'a client without one has no ${cert_common_name}')
})
