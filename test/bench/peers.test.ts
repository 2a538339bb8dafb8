// The bench's peers still work: `npm run bench` is not part of the suite, and the Node floor imports
// Culex's own read path (dist/mqtt/socket-reads.js), so a change there once broke its column of a full run
// without any test noticing. Each peer is started as the bench starts it and given one real MQTT exchange.
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { collect, connectClient, delay, end, freePort } from '../helpers.js'
import { basePki, pkiDir } from '../listeners/tls-helpers.js'
import { spawnOwned } from '../processes.js'
import type { MqttClient, IClientOptions } from 'mqtt'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

function startPeer (t: Test, script: string, args: string[]): { output: () => string } {
  const child = spawnOwned(t, process.execPath, [`bench/peers/${script}`, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  for (const stream of [child.stdout!, child.stderr!]) stream.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  return { output: () => output }
}

/** Connects once the peer listens (it says nothing when it does). */
async function connectWhenUp (port: number, peer: { output: () => string }, opts: IClientOptions = {}): Promise<MqttClient> {
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      return await connectClient(port, { connectTimeout: 1000, ...opts })
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`peer did not answer CONNECT: ${(err as Error).message} ${peer.output()}`)
      await delay(100)
    }
  }
}

async function roundTrip (t: Test, port: number, peer: { output: () => string }, opts: IClientOptions = {}): Promise<void> {
  const sub = await connectWhenUp(port, peer, { clientId: 'peer-sub', ...opts })
  t.teardown(() => end(sub, true))
  const pub = await connectClient(port, { clientId: 'peer-pub', ...opts })
  t.teardown(() => end(pub, true))
  const got = collect(sub)
  await sub.subscribeAsync('peer/topic', { qos: 0 })
  pub.publish('peer/topic', 'hello', { qos: 0 })
  await got.waitFor(1)
  t.equal(got.messages[0]!.topic, 'peer/topic')
  t.equal(got.messages[0]!.payload.toString(), 'hello', 'a PUBLISH reached the subscriber')
}

t.test('Node floor: plain TCP read as Culex reads, and TLS', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const [port, tlsPort] = [await freePort(), await freePort()]
  const peer = startPeer(t, 'node-floor.mjs', ['--port', String(port), '--tls-port', String(tlsPort), '--cert', pki.files['server.pem']!, '--key', pki.files['server.key']!])
  await roundTrip(t, port, peer)
  const overTls = await connectWhenUp(tlsPort, peer, { protocol: 'mqtts', ca: pki.ca.certPem, servername: 'localhost', clientId: 'peer-tls' })
  t.ok(overTls.connected, 'CONNACK over TLS')
  await end(overTls, true)
})

t.test('Node TLS floor: CONNACK over TLS', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const tlsPort = await freePort()
  const peer = startPeer(t, 'node-tls-floor.mjs', ['--tls-port', String(tlsPort), '--cert', pki.files['server.pem']!, '--key', pki.files['server.key']!, '--ca', pki.files['ca.pem']!])
  const client = await connectWhenUp(tlsPort, peer, { protocol: 'mqtts', ca: pki.ca.certPem, servername: 'localhost', clientId: 'peer-tls-floor' })
  t.ok(client.connected, 'CONNACK over TLS')
  await end(client, true)
})

t.test('aedes: a PUBLISH round trip', async (t) => {
  const port = await freePort()
  const peer = startPeer(t, 'aedes.mjs', [String(port)])
  await roundTrip(t, port, peer)
})

t.test('the HTTP authorization service allows', async (t) => {
  const port = await freePort()
  const peer = startPeer(t, 'authz-http.mjs', [String(port)])
  const deadline = Date.now() + 15_000
  let res: Response | undefined
  while (res === undefined) {
    try {
      res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify({ clientid: 'c', action: 'publish', topic: 't' }) })
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no answer: ${(err as Error).message} ${peer.output()}`)
      await delay(100)
    }
  }
  t.equal(res.status, 200)
  t.same(await res.json(), { result: 'allow' })
})
