// TLS-PSK (psk_authentication): mosquitto_pub --psk connects, a wrong key is refused, and the PSK identity
// stands in for a missing user name.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import type { IClientOptions } from 'mqtt'
import t from 'tap'
import type { ClientInfo } from '../../src/index.js'
import { startBroker } from '../helpers.js'
import { basePki, mqttTry, pkiDir, run, sslOptions } from './tls-helpers.js'

const hasMosquitto = (() => {
  try { execFileSync('which', ['mosquitto_pub']); return true } catch { return false }
})()

const KEY = 'ba0db2a3448345a3a13a91c2ada44778'

t.test('PSK identities from init_file authenticate TLS 1.2 PSK handshakes', async (t) => {
  // The ssl listener still needs its certificate files; PSK suites do not use them.
  const pki = await basePki(await pkiDir(t))
  const dir = t.testdir({
    'psk.txt': `# identity:secret\nemqx_c:${KEY}\ntext_id:not-hex-secret\n`,
    'server.pem': pki.server.certPem,
    'server.key': pki.server.keyPem,
  })
  const seen: ClientInfo[] = []
  const b = await startBroker({
    psk_authentication: { enable: true, init_file: join(dir, 'psk.txt') },
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: {
        default: {
          bind: '127.0.0.1:0',
          ssl_options: {
            certfile: join(dir, 'server.pem'), keyfile: join(dir, 'server.key'),
            versions: ['tlsv1.2'], ciphers: ['PSK-AES128-CBC-SHA', 'PSK-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
          },
        },
      },
    },
  }, { hooks: { clientConnected: (client) => { seen.push(client) } } })
  t.teardown(() => b.close())
  const port = b.broker.port('ssl')

  // Node's own PSK client: the handshake uses a PSK suite and the broker knows the identity.
  const socket = tlsConnect({
    host: '127.0.0.1', port, ciphers: 'PSK-AES128-CBC-SHA', checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: Buffer.from(KEY, 'hex'), identity: 'emqx_c' }),
  })
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', () => resolve()); socket.once('error', reject) })
  t.equal(socket.getCipher()?.name, 'PSK-AES128-CBC-SHA')
  socket.destroy()

  const text = tlsConnect({
    host: '127.0.0.1', port, ciphers: 'PSK-AES128-CBC-SHA', checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: Buffer.from('not-hex-secret'), identity: 'text_id' }),
  })
  await new Promise<void>((resolve, reject) => { text.once('secureConnect', () => resolve()); text.once('error', reject) })
  t.pass('a secret that is not hex is used as text')
  text.destroy()

  if (!hasMosquitto) { t.comment('mosquitto_pub is not installed: its case is skipped'); return }
  // Asynchronously: the broker runs in this process.
  const pub = (key: string) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '--psk', key, '--psk-identity', 'emqx_c', '-t', 'psk/t', '-m', 'hi', '-i', 'psk-client'])
  const ok = await pub(KEY)
  t.equal(ok.code, 0, `mosquitto_pub --psk connects (${ok.stderr})`)
  const client = seen.find((c) => c.clientId === 'psk-client')
  t.equal(client?.tls?.pskIdentity, 'emqx_c', 'the identity is on client.tls')
  t.equal(client?.username, 'emqx_c', 'and stands in for the missing user name')
  const bad = await pub('00112233445566778899aabbccddeeff')
  t.not(bad.code, 0, 'a wrong key is refused')
})

t.test('a missing init_file stops start-up naming it', async (t) => {
  await t.rejects(startBroker({ psk_authentication: { enable: true, init_file: '/nonexistent/psk.txt' } }), { code: 'CULEX_ERR_TLS_CONFIG', message: /psk_authentication.init_file \/nonexistent\/psk.txt: ENOENT/ })
})

t.test('the PSK identity wins over the CONNECT user name (issue 15 item 8)', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const dir = t.testdir({ 'psk.txt': `emqx_c:${KEY}\n` })
  const seen: ClientInfo[] = []
  const b = await startBroker({
    psk_authentication: { enable: true, init_file: join(dir, 'psk.txt') },
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ssl: { default: { bind: '127.0.0.1:0', ssl_options: { ...sslOptions(pki), versions: ['tlsv1.2'], ciphers: ['PSK-AES128-CBC-SHA', 'ECDHE-ECDSA-AES128-GCM-SHA256'] } } },
    },
  }, { hooks: { clientConnected: (client) => { seen.push(client) } } })
  t.teardown(() => b.close())

  const outcome = await mqttTry(b.broker.port('ssl'), {
    clientId: 'psk-as-admin', username: 'admin', password: 'x',
    ciphers: 'PSK-AES128-CBC-SHA', checkServerIdentity: () => undefined,
    pskCallback: () => ({ psk: Buffer.from(KEY, 'hex'), identity: 'emqx_c' }),
  } as IClientOptions, t)
  t.ok(outcome.client, `the PSK client connects (${outcome.error?.message ?? 'ok'})`)
  const client = seen.find((c) => c.clientId === 'psk-as-admin')
  t.equal(client?.tls?.pskIdentity, 'emqx_c')
  t.equal(client?.username, 'emqx_c', 'the user name is the PSK identity, not the admin the client claimed')
  t.equal(b.broker.core.clients.get('psk-as-admin')?.client?.username, 'emqx_c')
})
