// Shared test helpers: a broker on loopback ports chosen by the OS, MQTT.js clients, raw sockets.
import { connect as netConnect, type Socket } from 'node:net'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { pino } from 'pino'
import { createBroker, type Broker, type BrokerOptions } from '../src/index.js'
import type { Log } from '../src/log.js'
import type { ChildProcess } from 'node:child_process'
import { spawnNodeOwned } from './processes.js'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface TestBroker {
  broker: Broker
  tcpPort: number
  wsPort: number
  /** Log lines the broker wrote (JSON objects). */
  logs: Record<string, unknown>[]
  close (): Promise<void>
}

/** A logger that keeps every line in memory, so tests can assert what the broker logged. */
export function memoryLog (level = 'debug'): { log: Log, lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write (chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  const log = pino({ level, customLevels: { notice: 35, warning: 40, critical: 55 } }, sink) as Log
  return { log, lines }
}

/**
 * Starts a broker with tcp and ws listeners on 127.0.0.1, OS-chosen ports, and the given config
 * merged over that (a `mqtt` section, `retainer`, ...). `$SYS` (event messages included) and the management API are off unless the config turns them on.
 */
export async function startBroker (config: Record<string, unknown> = {}, opts: Omit<BrokerOptions, 'config'> = {}): Promise<TestBroker> {
  const { log, lines } = memoryLog()
  const merged = {
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ws: { default: { bind: '127.0.0.1:0' } },
    },
    sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled', sys_event_messages: { client_connected: false, client_disconnected: false } },
    // The management API (on by default, port 18083) only where a test asks for it: test/api/.
    dashboard: { listeners: { http: { enable: false } } },
    // Tests that run in parallel must not share node.data_dir's store; durability tests ask for lmdb.
    durable_storage: { backend: 'memory' },
    ...config,
  }
  const broker = await createBroker({ logger: log, ...opts, config: merged })
  return {
    broker,
    tcpPort: broker.port('tcp'),
    wsPort: broker.listener('ws')?.running ? broker.port('ws') : 0,
    logs: lines,
    close: () => broker.close(),
  }
}

/** An MQTT.js client connected over TCP (protocolVersion 4 unless given); resolves once CONNACK arrives. */
export async function connectClient (port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return client
}

/** connectClient, ended (forcibly) at the test's teardown. */
export async function connectOwned (t: { teardown: (fn: () => unknown) => void }, port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await connectClient(port, opts)
  t.teardown(() => end(c, true))
  return c
}

/** Whatever can publish a probe: an MQTT.js client, or the broker itself (`broker.publish`). */
export interface ProbePublisher { publish (topic: string, payload: string, opts: { qos: 2 }): unknown }

export type Inbox = ReturnType<typeof collect>

/** Collects messages a client receives; `waitFor(n)` waits until n have arrived (or times out). */
export function collect (client: MqttClient) {
  const messages: { topic: string, payload: Buffer, packet: mqtt.IPublishPacket }[] = []
  const waiters: (() => void)[] = []
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload, packet })
    waiters.splice(0).forEach((w) => w())
  })
  const waitUntil = async (done: () => boolean, what: () => string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs
    while (!done()) {
      if (Date.now() > deadline) throw new Error(what())
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 50) })
    }
  }
  const inbox = {
    messages,
    async waitFor (count: number, timeoutMs = 10_000) {
      await waitUntil(() => messages.length >= count, () => `expected ${count} messages, got ${messages.length}`, timeoutMs)
      return messages
    },
    /** Waits for a message with this payload and takes it out of `messages`. */
    async takePayload (payload: string, timeoutMs = 10_000) {
      const at = () => messages.findIndex((m) => m.payload.toString() === payload)
      await waitUntil(() => at() >= 0, () => `no message "${payload}" within ${timeoutMs} ms`, timeoutMs)
      return messages.splice(at(), 1)[0]!
    },
    /** probe(pub, topic, [this inbox]): resolves with `messages`, the probe taken out. */
    async probe (pub: ProbePublisher, topic: string, timeoutMs = 10_000) {
      await probe(pub, topic, [inbox], timeoutMs)
      return messages
    },
  }
  return inbox
}

let probes = 0

/**
 * Shows that nothing more is on its way from `pub` to these inboxes, for an assertion that something did not
 * arrive: publishes a probe on `topic` at QoS 2 and waits until each inbox has it. One publisher's messages
 * reach a subscriber in the order they were published, so whatever `pub` published before the probe has
 * arrived by then. Each inbox's subscription matching `topic` must grant at least the QoS of what is ruled out
 * (MQTT.js passes a QoS 2 message on only at PUBREL), and no other inbox may be subscribed to `topic` (it would
 * keep the probe). The probe is taken out of each inbox's `messages`.
 */
export async function probe (pub: ProbePublisher, topic: string, inboxes: Inbox[], timeoutMs = 10_000): Promise<void> {
  const payload = `probe-${++probes}`
  pub.publish(topic, payload, { qos: 2 })
  await Promise.all(inboxes.map((inbox) => inbox.takePayload(payload, timeoutMs)))
}

/**
 * A PINGREQ round trip on an MQTT.js client (RawMqtt.ping for raw ones): the broker handles a connection's
 * packets in order and writes to it in order, so whatever it sent this client before it read the PINGREQ
 * has been handled by the time the PINGRESP comes (QoS 0 and 1 messages emitted; QoS 2 ones wait for PUBREL).
 */
export async function ping (client: MqttClient, timeoutMs = 10_000): Promise<void> {
  let onPacket: ((packet: Packet) => void) | undefined
  const pong = new Promise<void>((resolve) => {
    onPacket = (packet) => { if (packet.cmd === 'pingresp') resolve() }
    client.on('packetreceive', onPacket)
  })
  try {
    client.sendPing()
    if (!(await within(timeoutMs, pong))) throw new Error(`no PINGRESP within ${timeoutMs} ms`)
  } finally {
    client.off('packetreceive', onPacket!)
  }
}

/** Publishes at QoS 1 and resolves with the PUBACK's reason code (0: accepted; MQTT.js rejects on a failure code). */
export function pubackCode (client: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve, reject) => client.publish(topic, 'x', { qos: 1 }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

/** Polls `check` every 10 ms until it returns a truthy value, and resolves with that; throws after timeoutMs. */
export async function until<T> (check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await delay(10)
  }
}

/**
 * An MQTT.js client (protocolVersion 4 unless given) collecting messages from before its CONNACK: a resumed
 * session's queue arrives right behind it. Resolves with the CONNACK's Session Present.
 */
export async function connectCollecting (port: number, opts: IClientOptions = {}): Promise<{ client: MqttClient, got: ReturnType<typeof collect>, sessionPresent: boolean }> {
  const client = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts })
  const got = collect(client)
  const sessionPresent = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent))
    client.once('error', reject)
  })
  return { client, got, sessionPresent }
}

/** A raw TCP socket to the broker, for malformed input; `received` accumulates what came back. */
export async function rawSocket (port: number): Promise<{ socket: Socket, received: () => Buffer, closed: Promise<void> }> {
  const socket = netConnect({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', () => {})
  const closed = once(socket, 'close').then(() => undefined)
  await once(socket, 'connect')
  return { socket, received: () => Buffer.concat(chunks), closed }
}

export function delay (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Ends a client and waits for its socket to close. */
export function end (client: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => client.end(force, {}, () => resolve()))
}

/** A free loopback port: bound on port 0, then released (for processes whose port cannot be read back). */
export async function freePort (): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A raw MQTT client: packets written with mqtt-packet, and every packet the broker sends parsed. */
export interface RawMqtt {
  socket: Socket
  /** Every packet received so far, in order. */
  packets: Packet[]
  send (packet: Packet): void
  /** The first packet of that kind not taken yet (waits up to timeoutMs). */
  take<C extends Packet['cmd']> (cmd: C, timeoutMs?: number): Promise<Extract<Packet, { cmd: C }>>
  /**
   * Sends PINGREQ and waits for its PINGRESP. The broker handles a connection's packets in order and writes
   * to it in order, so whatever it had sent this connection before it read the PINGREQ has arrived by then.
   */
  ping (timeoutMs?: number): Promise<void>
  closed: Promise<void>
  isClosed (): boolean
}

export async function rawMqtt (port: number, protocolVersion: 3 | 4 | 5 = 4): Promise<RawMqtt> {
  const { socket, closed } = await rawSocket(port)
  const parser = mqttPacket.parser({ protocolVersion })
  const packets: Packet[] = []
  const taken = new Set<Packet>()
  let isClosed = false
  void closed.then(() => { isClosed = true })
  parser.on('packet', (p: Packet) => packets.push(p))
  socket.on('data', (c: Buffer) => parser.parse(c))
  const raw: RawMqtt = {
    socket,
    packets,
    closed,
    isClosed: () => isClosed,
    send: (packet) => { socket.write(mqttPacket.generate(packet, { protocolVersion })) },
    async take (cmd, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = packets.find((p) => p.cmd === cmd && !taken.has(p))
        if (found) { taken.add(found); return found as never }
        if (Date.now() > deadline) throw new Error(`no ${cmd} within ${timeoutMs} ms (got ${packets.map((p) => p.cmd).join(', ') || 'nothing'})`)
        await delay(10)
      }
    },
    async ping (timeoutMs = 10_000) {
      raw.send({ cmd: 'pingreq' })
      await raw.take('pingresp', timeoutMs)
    },
  }
  return raw
}

/** Resolves true when the promise settles within ms, false otherwise. */
export async function within (ms: number, promise: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([promise.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** A rawMqtt client that has sent CONNECT (clean, keepalive 0 unless given) and received its CONNACK. */
export async function rawConnect (port: number, protocolVersion: 3 | 4 | 5, connect: Partial<import('mqtt-packet').IConnectPacket> = {}) {
  const raw = await rawMqtt(port, protocolVersion)
  raw.send({
    cmd: 'connect',
    protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion,
    clean: true,
    keepalive: 0,
    clientId: '',
    ...connect,
  } as import('mqtt-packet').IConnectPacket)
  const connack = await raw.take('connack')
  return { raw, connack }
}

/**
 * A broker process (`node --import=tsx src/broker.ts -c FILE`) on the HOCON text given, listening for MQTT on
 * 127.0.0.1:port (with `env` added to its environment); resolves once a client can connect, and is killed
 * with SIGKILL (with anything it forked) at teardown, or when the test process ends.
 */
/**
 * The HOCON of a broker process with only its tcp listener, on 127.0.0.1:`port`, keeping its data in `dataDir`
 * (durable_storage.backend `store`), logging warnings and above; `extra` lines are added after.
 */
export function tcpOnlyHocon (dataDir: string, port: number, store: 'lmdb' | 'memory' = 'lmdb', extra = ''): string {
  return `node.data_dir = "${dataDir}"
durable_storage.backend = ${store}
listeners.tcp.default.bind = "127.0.0.1:${port}"
listeners.ssl.default.enable = false
listeners.ws.default.enable = false
listeners.wss.default.enable = false
dashboard.listeners.http.enable = false
log.console.level = warning
${extra}`
}

export async function spawnBrokerProcess (t: { teardown: (fn: () => unknown) => void }, file: string, hocon: string, port: number, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  await writeFile(file, hocon)
  // `env` adds to this process's environment (NODE_EXTRA_CA_CERTS is read only when a process starts).
  const child = spawnNodeOwned(t, ['--import=tsx', 'src/broker.ts', '-c', file], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } })
  // A bound, not a timing assertion: compiling with tsx and forking workers on two busy cores takes seconds.
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      const probe = await connectClient(port, { clientId: `probe-${port}-${Date.now()}`, connectTimeout: 500 })
      await end(probe, true)
      return child
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`broker ${file} did not start: ${(err as Error).message}`)
      await delay(100)
    }
  }
}

/**
 * Floods 16 KiB QoS 0 messages on flood/x in bursts of 32, paced by a subscriber that reads (`got`),
 * until the broker disconnects the slow consumer that does not (bounded at 10 s); returns how many were sent.
 */
export async function floodUntilSlowConsumerCut (pub: MqttClient, got: ReturnType<typeof collect>, limits: { slowConsumerDisconnected: number }): Promise<number> {
  const payload = Buffer.alloc(16 * 1024, 1)
  let sent = 0
  const deadline = Date.now() + 10_000
  while (limits.slowConsumerDisconnected === 0 && Date.now() < deadline) {
    for (let i = 0; i < 32; i++) pub.publish('flood/x', payload, { qos: 0 })
    sent += 32
    await got.waitFor(sent, 3000)
  }
  return sent
}
