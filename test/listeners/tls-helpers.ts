// Shared by the TLS listener tests: a PKI written once per file, a broker with ssl/wss listeners,
// bounded Node TLS handshakes, MQTT.js over TLS, mosquitto clients, and waits on the broker's log.
import { existsSync } from 'node:fs'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { createCa, issueClient, issueServer, type Issued, type KeyType } from '../../src/certs/index.js'
import { run, tempDir, writeFiles, type Run } from '../certs/pki.js'
import { delay, startBroker, type TestBroker } from '../helpers.js'

export const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub'
export const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub'

export const OPENSSL = '/usr/bin/openssl'
export const hasMosquitto = existsSync(MOSQUITTO_PUB) && existsSync(MOSQUITTO_SUB)

type Teardown = { teardown: (fn: () => unknown) => void }

/** A temporary directory removed when the (file-level) test ends. */
export const pkiDir = (t: Teardown): Promise<string> => tempDir(t)

export { writeFiles }

export interface BasePki {
  ca: Issued
  server: Issued
  client: Issued
  /** ca.pem, server.pem, server.key, client.pem, client.key */
  files: Record<string, string>
}

/** A CA, a server certificate for localhost/127.0.0.1 and a client certificate (CN client), written to dir. */
export async function basePki (dir: string, key: KeyType = 'ec256', clientCn = 'client'): Promise<BasePki> {
  const ca = await createCa({ cn: 'Culex Test CA', key })
  const server = await issueServer({ ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'], key })
  const client = await issueClient({ ca, cn: clientCn, key })
  const files = await writeFiles(dir, {
    'ca.pem': ca.certPem,
    'server.pem': server.certPem,
    'server.key': server.keyPem,
    'client.pem': client.certPem,
    'client.key': client.keyPem,
  })
  return { ca, server, client, files }
}

/** ssl_options for the base PKI, with overrides. */
export function sslOptions (pki: BasePki, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cacertfile: pki.files['ca.pem'], certfile: pki.files['server.pem'], keyfile: pki.files['server.key'], ...extra }
}

/**
 * A broker with a tcp listener (startBroker reads its port), an ssl listener and optionally a wss
 * listener, all on 127.0.0.1 with OS-chosen ports; closed at teardown.
 */
export async function startTlsBroker (t: Teardown, ssl: Record<string, unknown>, extra: { wss?: Record<string, unknown>, config?: Record<string, unknown> } = {}): Promise<TestBroker & { sslPort: number, wssPort: number }> {
  const listeners: Record<string, unknown> = {
    tcp: { default: { bind: '127.0.0.1:0' } },
    ssl: { default: { bind: '127.0.0.1:0', ssl_options: ssl } },
  }
  if (extra.wss) listeners.wss = { default: { bind: '127.0.0.1:0', ssl_options: extra.wss } }
  const b = await startBroker({ ...extra.config, listeners })
  t.teardown(() => b.close())
  return { ...b, sslPort: b.broker.port('ssl'), wssPort: extra.wss ? b.broker.port('wss') : 0 }
}

export interface Handshake {
  /** secureConnect happened (the handshake finished on the client side). */
  secure: boolean
  /** The socket closed within the bound after a finished handshake, without error (the server refused after it). */
  closedAfterHandshake: boolean
  error?: string
  code?: string
  protocol: string | null
  cipher: string | null
  /** SHA-256 fingerprint of the server certificate. */
  fingerprint: string | null
  reused: boolean
  session: Buffer | null
  localPort: number
  authorizationError: string | null
}

/**
 * A Node TLS handshake to the broker, then waits `holdMs` to see whether the server closes it (a refusal
 * after the handshake: verify policy). Bounded to 5 s; the socket is always destroyed.
 */
export function handshake (port: number, options: ConnectionOptions = {}, holdMs = 300): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options })
    const result: Handshake = {
      secure: false, closedAfterHandshake: false, protocol: null, cipher: null, fingerprint: null,
      reused: false, session: null, localPort: 0, authorizationError: null,
    }
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(bound)
      socket.destroy()
      resolve(result)
    }
    const bound = setTimeout(() => { result.error ??= 'timeout'; finish() }, 5000)
    socket.on('connect', () => { result.localPort = socket.localPort ?? 0 })
    socket.on('session', (s: Buffer) => { result.session = s })
    socket.on('secureConnect', () => {
      result.secure = true
      result.protocol = socket.getProtocol()
      result.cipher = socket.getCipher()?.name ?? null
      result.fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? null
      result.reused = socket.isSessionReused()
      result.authorizationError = socket.authorizationError ? String(socket.authorizationError) : null
      setTimeout(finish, holdMs)
    })
    socket.on('data', () => {})
    socket.on('error', (err: Error & { code?: string }) => { result.error = err.message; result.code = err.code; finish() })
    socket.on('close', () => {
      if (result.secure && !result.error) result.closedAfterHandshake = true
      finish()
    })
  })
}

/** Polls the log until a line matches (bounded), returning it; throws with the lines seen otherwise. */
export async function waitForLog (logs: Record<string, unknown>[], match: (line: Record<string, unknown>) => boolean, timeoutMs = 3000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const line = logs.find(match)
    if (line) return line
    if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; lines: ${logs.map((l) => JSON.stringify(l)).join('\n')}`)
    await delay(20)
  }
}

/** Failure lines already returned by failureFrom, per broker's log. */
const claimed = new WeakMap<Record<string, unknown>[], Set<Record<string, unknown>>>()

/**
 * The handshake-failure line for the connection from that local port. Each line is returned once: a
 * later connection that the kernel gave the same local port finds its own line, not the earlier one's.
 */
export async function failureFrom (b: TestBroker, localPort: number, timeoutMs = 3000): Promise<Record<string, unknown>> {
  const seen = claimed.get(b.logs) ?? new Set()
  claimed.set(b.logs, seen)
  const line = await waitForLog(b.logs, (l) => !seen.has(l) && String(l.msg).startsWith('TLS handshake failed') && l.peer === `127.0.0.1:${localPort}`, timeoutMs)
  seen.add(line)
  return line
}

/** What an MQTT.js connection attempt came to: connected, an error, or a close before CONNACK. */
export interface MqttOutcome {
  client: MqttClient | null
  error?: Error & { code?: string | number }
  closed?: boolean
  /** The client's local port (mqtts only), to find the broker's log line for this connection. */
  localPort: number
}

/** MQTT.js to 127.0.0.1 (mqtts unless given), no reconnect; resolves on CONNACK, error or close (bounded). */
export function mqttTry (port: number, opts: IClientOptions, t: Teardown): Promise<MqttOutcome> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtts', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 4000, ...opts })
  t.teardown(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  let localPort = 0
  const stream = client.stream as unknown as { once?: (e: string, f: () => void) => void, localPort?: number } | undefined
  stream?.once?.('connect', () => { localPort = stream.localPort ?? 0 })
  return new Promise((resolve) => {
    client.once('connect', () => resolve({ client, localPort }))
    client.once('error', (error) => { resolve({ client: null, error, localPort }) })
    client.once('close', () => resolve({ client: null, closed: true, localPort }))
  })
}

export { run, type Run }

/** mosquitto_sub waiting for one message (or its 5 s -W bound); its stdout is a pipe, so read it after exit. */
export function mosquittoSub (args: string[]): Promise<Run> {
  return run(MOSQUITTO_SUB, ['-C', '1', '-W', '5', ...args])
}

/** Waits until the client holds that subscription in the broker (mosquitto_sub cannot tell, its stdout is buffered). */
export async function waitSubscribed (b: TestBroker, clientId: string, filter: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!b.broker.core.clients.get(clientId)?.session?.subscriptions.has(filter)) {
    if (Date.now() > deadline) throw new Error(`${clientId} did not subscribe to ${filter} within ${timeoutMs} ms`)
    await delay(20)
  }
}
