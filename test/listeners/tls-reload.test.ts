// Hot reload of the TLS files: replaced on disk (watched), through broker.reloadTls() and through SIGHUP
// on the command line; existing connections keep going, and a bad file leaves the previous one in force.
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { createCa, issueClient, issueServer, type Issued } from '../../src/certs/index.js'
import { collect, delay, end, freePort } from '../helpers.js'
import { killGroup, spawnNodeOwned } from '../processes.js'
import { basePki, handshake, mqttTry, pkiDir, sslOptions, startTlsBroker, waitForLog, writeFiles } from './tls-helpers.js'

const CLI = join(fileURLToPath(new URL('../../', import.meta.url)), 'dist', 'broker.js')

const dir = await pkiDir(t)
const pki = await basePki(dir)
const fingerprint = (i: Issued) => new X509Certificate(i.certPem).fingerprint256
/** The fingerprint of the certificate a new handshake gets. */
const served = async (port: number) => (await handshake(port, {}, 0)).fingerprint

/** A server certificate for localhost/127.0.0.1 from a fresh CA. */
async function freshServer (cn: string): Promise<{ ca: Issued, server: Issued }> {
  const ca = await createCa({ cn })
  return { ca, server: await issueServer({ ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'] }) }
}

/** A directory of its own (the listener watches the directory of its files) holding server.pem and server.key. */
async function serverDir (name: string, server: Issued): Promise<{ certfile: string, keyfile: string }> {
  const sub = join(dir, name)
  await mkdir(sub)
  const paths = await writeFiles(sub, { 'server.pem': server.certPem, 'server.key': server.keyPem })
  return { certfile: paths['server.pem']!, keyfile: paths['server.key']! }
}

async function replace (files: { certfile: string, keyfile: string }, server: Issued): Promise<void> {
  await writeFile(files.certfile, server.certPem)
  await writeFile(files.keyfile, server.keyPem)
}

/** Handshakes until the server shows that certificate (the watcher waits for writes to settle); bounded. */
async function seesCertificate (port: number, expected: string, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await served(port) === expected) return true
    await delay(50)
  }
  return false
}

t.test('replacing certfile and keyfile on disk: new handshakes get the new certificate, open connections go on', async (t) => {
  const files = await serverDir('watched', pki.server)
  const b = await startTlsBroker(t, sslOptions(pki, files), { wss: sslOptions(pki, files) })
  t.equal(await served(b.sslPort), fingerprint(pki.server), 'the first certificate is served')

  const old = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', clientId: 'long-lived' }, t)
  t.ok(old.client, 'a client connected before the change')
  const oldGot = collect(old.client!)
  await old.client!.subscribeAsync('reload/t', { qos: 1 })

  const next = await freshServer('Second CA')
  await replace(files, next.server)
  const line = await waitForLog(b.logs, (l) => l.msg === 'TLS certificate, key and CA files reloaded' && l.listener === 'ssl:default')
  t.match(line, { trigger: 'file change' })
  await waitForLog(b.logs, (l) => l.msg === 'TLS certificate, key and CA files reloaded' && l.listener === 'wss:default')
  t.equal(await served(b.sslPort), fingerprint(next.server), 'ssl: a new connection sees the new certificate')
  t.equal(await served(b.wssPort), fingerprint(next.server), 'wss: a new connection sees the new certificate')

  const fresh = await mqttTry(b.sslPort, { ca: next.ca.certPem, servername: 'localhost', clientId: 'new-ca' }, t)
  t.ok(fresh.client, 'a client trusting only the new CA connects')
  const stale = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', clientId: 'old-ca' }, t)
  t.match(stale.error?.message, /unable to verify/, 'a client trusting only the old CA no longer does')

  t.ok(old.client!.connected, 'the connection made before the change is still up')
  await old.client!.publishAsync('reload/t', 'still here', { qos: 1 })
  await fresh.client!.publishAsync('reload/t', 'from the new one', { qos: 1 })
  t.same((await oldGot.waitFor(2)).map((m) => m.payload.toString()).sort(), ['from the new one', 'still here'], 'and keeps exchanging messages')
  await end(old.client!)
  await end(fresh.client!)
})

t.test('broker.reloadTls() reloads every TLS listener; an invalid PEM keeps the previous files in force', async (t) => {
  const files = await serverDir('manual', pki.server)
  const b = await startTlsBroker(t, sslOptions(pki, files), { wss: sslOptions(pki, files) })
  const next = await freshServer('Third CA')
  await replace(files, next.server)
  t.equal(b.broker.reloadTls('test'), 2, 'ssl and wss reloaded')
  t.match(await waitForLog(b.logs, (l) => l.trigger === 'test' && l.listener === 'ssl:default'), { msg: 'TLS certificate, key and CA files reloaded' })
  t.equal(await served(b.sslPort), fingerprint(next.server), 'the new certificate is served at once')

  await writeFile(files.certfile, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n')
  const failed = await waitForLog(b.logs, (l) => l.level === 50 && l.trigger === 'file change' && l.listener === 'ssl:default')
  t.match(failed.msg, /TLS files not reloaded, the previous ones stay in force: listener ssl:default: ssl_options\.certfile/)
  t.equal(b.broker.reloadTls('test again'), 0, 'reloadTls() reports that nothing reloaded')
  t.ok(b.logs.some((l) => l.level === 50 && l.trigger === 'test again' && l.listener === 'wss:default'), 'each listener logs its failure')
  t.equal(await served(b.sslPort), fingerprint(next.server), 'ssl: handshakes still use the last good certificate')
  t.equal(await served(b.wssPort), fingerprint(next.server), 'wss: handshakes still use the last good certificate')
  const conn = await mqttTry(b.sslPort, { ca: next.ca.certPem, servername: 'localhost', clientId: 'after-bad-file' }, t)
  t.ok(conn.client, 'clients still connect')
  if (conn.client) await end(conn.client)
})

t.test('partial_chain survives a reload', async (t) => {
  const root = await createCa({ cn: 'Reload Root' })
  const intermediate = await createCa({ cn: 'Reload Intermediate', issuer: root })
  const client = await issueClient({ ca: intermediate, cn: 'partial' })
  const paths = await writeFiles(dir, { 'reload-intermediate.pem': intermediate.certPem })
  const b = await startTlsBroker(t, sslOptions(pki, { cacertfile: paths['reload-intermediate.pem'], verify: 'verify_peer', fail_if_no_peer_cert: true, partial_chain: true }))
  const opts = { ca: pki.ca.certPem, servername: 'localhost', cert: client.certPem, key: client.keyPem }
  const before = await mqttTry(b.sslPort, { ...opts, clientId: 'before' }, t)
  t.ok(before.client, 'accepted, anchored at the intermediate')
  t.equal(b.broker.reloadTls(), 1)
  const after = await mqttTry(b.sslPort, { ...opts, clientId: 'after' }, t)
  t.ok(after.client, 'still accepted after the reload')
  t.same(b.broker.core.metrics.tlsFailures, {})
})

t.test('SIGHUP on the command line reloads the files', async (t: Test) => {
  if (!existsSync(CLI)) {
    t.fail(`${CLI} is missing: run npm run build first (npm test does)`)
    return
  }
  const files = await serverDir('cli', pki.server)
  const port = await freePort()
  const work = t.testdir({
    'culex.hocon': [
      'log.console { level = info, formatter = json }',
      'sys_topics { sys_msg_interval = disabled, sys_heartbeat_interval = disabled }',
      `listeners.ssl.default { bind = "127.0.0.1:${port}", ssl_options { certfile = "${files.certfile}", keyfile = "${files.keyfile}" } }`,
      'dashboard.listeners.http.enable = false',
      '',
    ].join('\n'),
  })
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EMQX_') && !k.startsWith('CULEX_') && k !== 'NODE_OPTIONS') env[k] = v
  const child = spawnNodeOwned(t, [CLI, '-c', join(work, 'culex.hocon')], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = once(child, 'close')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) killGroup(child)
    await exited
  })
  const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  const waitLine = async (match: (l: Record<string, unknown>) => boolean, what: string) => {
    const deadline = Date.now() + 8000
    while (!lines().some(match)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${what}: not seen (exit ${child.exitCode})\nstdout: ${out}\nstderr: ${err}`)
      await delay(20)
    }
  }
  await waitLine((l) => /^culex \S+ started in \d+ ms$/.test(String(l.msg)), 'start-up')
  t.equal(await served(port), fingerprint(pki.server), 'the first certificate is served')

  const next = await freshServer('SIGHUP CA')
  await replace(files, next.server)
  child.kill('SIGHUP')
  await waitLine((l) => l.msg === 'TLS certificate, key and CA files reloaded' && l.trigger === 'SIGHUP', 'SIGHUP reload')
  t.pass('the broker logged the SIGHUP reload')
  t.ok(await seesCertificate(port, fingerprint(next.server)), 'a new connection sees the new certificate')
  t.equal(child.exitCode, null, 'SIGHUP does not stop the broker')
  child.kill('SIGTERM')
  t.equal((await exited)[0], 0, 'SIGTERM still stops it cleanly')
})
