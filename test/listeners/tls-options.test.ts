// ssl_options.client_renegotiation and dhfile.
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import t from 'tap'
import { openssl } from '../certs/pki.js'
import { basePki, handshake, pkiDir, sslOptions, startTlsBroker } from './tls-helpers.js'

/** A TLS 1.2 connection to the broker that asks to renegotiate; resolves with the error, or null when it succeeded. */
function renegotiate (port: number, ca: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', maxVersion: 'TLSv1.2' })
    const bound = setTimeout(() => { socket.destroy(); resolve('timeout') }, 5000)
    const done = (result: string | null) => { clearTimeout(bound); socket.destroy(); resolve(result) }
    socket.on('error', (err) => done(err.message))
    socket.once('secureConnect', () => {
      socket.renegotiate({ rejectUnauthorized: true }, (err) => done(err ? err.message : null))
    })
  })
}

t.test('client_renegotiation: allowed by default (TLS 1.2), refused when false', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const on = await startTlsBroker(t, sslOptions(pki))
  t.equal(await renegotiate(on.sslPort, pki.ca.certPem), null, 'renegotiated')
  const off = await startTlsBroker(t, sslOptions(pki, { client_renegotiation: false }))
  const refused = await renegotiate(off.sslPort, pki.ca.certPem)
  t.not(refused, null, `refused (${String(refused)})`)
  t.not(refused, 'timeout')
})

t.test('dhfile: DHE cipher suites are offered only with Diffie-Hellman parameters', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir, 'rsa2048')
  const dh = join(dir, 'dh.pem')
  const gen = await openssl('genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'dh_param:ffdhe2048', '-out', dh)
  t.equal(gen.code, 0, gen.stderr)
  const dhe = { versions: ['tlsv1.2'], ciphers: ['DHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'] }
  const client = { ca: pki.ca.certPem, servername: 'localhost', ciphers: 'DHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' as const }
  const without = await startTlsBroker(t, sslOptions(pki, dhe))
  const refused = await handshake(without.sslPort, client)
  t.equal(refused.secure, false, 'no DHE suite without dhfile')
  const withDh = await startTlsBroker(t, sslOptions(pki, { ...dhe, dhfile: dh }))
  const ok = await handshake(withDh.sslPort, client)
  t.equal(ok.cipher, 'DHE-RSA-AES128-GCM-SHA256', 'DHE negotiated with dhfile')
  await t.rejects(startTlsBroker(t, sslOptions(pki, { dhfile: join(dir, 'absent.pem') })), { message: /ssl_options\.dhfile .*absent\.pem: ENOENT/ })
})
