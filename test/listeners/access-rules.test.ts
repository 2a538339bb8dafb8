// access_rules (EMQX): checked at accept on every listener type, first match wins, no match allows.
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import WebSocket from 'ws'
import { connectClient, end, rawMqtt, startBroker, within } from '../helpers.js'
import { basePki, pkiDir, sslOptions, waitForLog } from './tls-helpers.js'

const refusedBy = (rule: string) => (l: Record<string, unknown>) => l.rule === rule && String(l.msg).startsWith('connection refused by access_rules')

t.test('tcp: a denied address is closed at accept and logged with the address and rule; first match wins', async (t) => {
  const b = await startBroker({
    listeners: {
      tcp: {
        default: { bind: '127.0.0.1:0', access_rules: ['allow 10.0.0.0/8', 'deny 127.0.0.0/8', 'allow all'] },
        open: { bind: '127.0.0.1:0', access_rules: ['allow 127.0.0.1, deny all'] },
      },
    },
  })
  t.teardown(() => b.close())
  const raw = await rawMqtt(b.tcpPort)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'denied' })
  t.ok(await within(3000, raw.closed), 'closed by the broker')
  t.same(raw.packets, [], 'no CONNACK')
  const line = await waitForLog(b.logs, refusedBy('deny 127.0.0.0/8'))
  t.match(line.peer, /^127\.0\.0\.1:\d+$/)
  t.equal(line.listener, 'tcp:default')
  t.ok(b.broker.core.metrics.connectionsRefused === 1, 'counted as refused')

  const allowed = await connectClient(b.broker.port('tcp', 'open'))
  t.ok(allowed.connected, 'allowed by its first rule before deny all')
  await end(allowed)
})

t.test('tcp over IPv6: rules match IPv6 networks', async (t) => {
  const b = await startBroker({
    listeners: {
      tcp: {
        default: { bind: '[::1]:0', access_rules: ['deny ::1/128'] },
        open: { bind: '[::1]:0', access_rules: ['allow ::1', 'deny all'] },
      },
    },
  })
  t.teardown(() => b.close())
  const refused = await new Promise<boolean>((resolve) => {
    const c = connectClient(b.tcpPort, { host: '::1' })
    c.then((client) => { void end(client); resolve(false) }, () => resolve(true))
  })
  t.ok(refused, '::1 refused by deny ::1/128')
  await waitForLog(b.logs, refusedBy('deny ::1/128'))
  const ok = await connectClient(b.broker.port('tcp', 'open'), { host: '::1' })
  t.ok(ok.connected, '::1 allowed by allow ::1')
  await end(ok)
})

t.test('ws: refused before the HTTP upgrade', async (t) => {
  const b = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, ws: { default: { bind: '127.0.0.1:0', access_rules: 'deny all' } } } })
  t.teardown(() => b.close())
  const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/mqtt`, 'mqtt')
  const outcome = await new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'))
    ws.once('error', (err) => resolve(err.message))
  })
  t.not(outcome, 'open', `upgrade refused (${outcome})`)
  await waitForLog(b.logs, refusedBy('deny all'))
})

t.test('ssl and wss: refused before the TLS handshake', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: { default: { bind: '127.0.0.1:0', access_rules: ['deny 127.0.0.1'], ssl_options: sslOptions(pki) } },
      wss: { default: { bind: '127.0.0.1:0', access_rules: ['deny 127.0.0.1/32'], ssl_options: sslOptions(pki) } },
    },
  })
  t.teardown(() => b.close())
  for (const [type, rule] of [['ssl', 'deny 127.0.0.1'], ['wss', 'deny 127.0.0.1/32']] as const) {
    const socket = tlsConnect({ host: '127.0.0.1', port: b.broker.port(type), ca: pki.ca.certPem, servername: 'localhost' })
    const outcome = await new Promise<string>((resolve) => {
      socket.once('secureConnect', () => resolve('handshake'))
      socket.once('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message))
      socket.once('close', () => resolve('closed'))
    })
    socket.destroy()
    t.not(outcome, 'handshake', `${type}: no TLS handshake (${outcome})`)
    const line = await waitForLog(b.logs, refusedBy(rule))
    t.equal(line.listener, `${type}:default`)
  }
})
