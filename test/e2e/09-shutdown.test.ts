// Shutdown through the library (broker.close()) and the command line (dist/broker.js): start-up,
// --version/--help, configuration errors, environment overrides and SIGTERM.
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { createCa, issueServer } from '../../src/certs/index.js'
import { connectClient, end, freePort, rawMqtt, startBroker, within } from '../helpers.js'
import { spawnNodeOwned } from '../processes.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'dist', 'broker.js')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

t.test('broker.close(): MQTT 5 clients get DISCONNECT 0x8B, MQTT 3 clients see the socket close', async (t) => {
  const b = await startBroker()
  let closed = false
  t.teardown(() => closed ? undefined : b.close())

  const v5 = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'v5' })
  v5.on('error', () => {})
  const v5Disconnect = new Promise<number | undefined>((resolve) => v5.once('disconnect', (p) => resolve(p.reasonCode)))
  const v5Closed = new Promise<void>((resolve) => v5.once('close', () => resolve()))
  const v4 = await rawMqtt(b.tcpPort, 4)
  v4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'v4' })
  await v4.take('connack')
  const v3 = await rawMqtt(b.tcpPort, 3)
  v3.send({ cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, keepalive: 0, clientId: 'v3' })
  await v3.take('connack')
  // A socket that has not sent CONNECT yet is closed too.
  const pending = await rawMqtt(b.tcpPort, 4)

  await b.close()
  closed = true
  t.equal(await v5Disconnect, 0x8b, 'DISCONNECT 0x8B Server shutting down')
  t.ok(await within(2000, v5Closed), 'then the MQTT 5 connection closes')
  t.ok(await within(2000, Promise.all([v4.closed, v3.closed, pending.closed])), 'the other connections close')
  t.same(v4.packets.map((p) => p.cmd), ['connack'], 'MQTT 3.1.1 gets no DISCONNECT')
  t.same(v3.packets.map((p) => p.cmd), ['connack'], 'MQTT 3.1 gets no DISCONNECT')
  t.same(pending.packets, [], 'the unconnected socket gets nothing')
  t.notOk(b.broker.listener('tcp')?.running, 'the listener stopped')
  v5.end(true)
})

t.test('command line', async (t) => {
  if (!existsSync(CLI)) {
    t.fail(`${CLI} is missing: run npm run build first (npm test does)`)
    return
  }
  // Each case spawns its own node process, mostly waiting on its start-up: two at a time.
  t.jobs = 2

  /** The environment without the caller's configuration overrides and loader options. */
  function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('EMQX_') && !k.startsWith('CULEX_') && k !== 'NODE_OPTIONS') env[k] = v
    }
    return { ...env, ...extra }
  }

  interface Run { child: ChildProcess, stdout: () => string, stderr: () => string, exited: Promise<number | null> }

  function run (t: Test, args: string[], cwd: string, env: Record<string, string> = {}): Run {
    const child = spawnNodeOwned(t, [CLI, ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
    // 'close', not 'exit': it waits until stdout and stderr have been read to the end.
    const exited = once(child, 'close').then(([code]) => code as number | null)
    return { child, stdout: () => out, stderr: () => err, exited }
  }

  /** Starts the CLI on a config file and waits for its "culex <version> started in N ms" line. */
  async function start (t: Test, config: string, env: Record<string, string> = {}, files: Record<string, string> = {}): Promise<Run> {
    const dir = t.testdir({ 'culex.hocon': config, ...files })
    const r = run(t, ['-c', join(dir, 'culex.hocon')], dir, env)
    t.teardown(async () => {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGKILL')
        await r.exited
      }
    })
    // A bound, not a timing assertion: start-up on two busy cores (a CI machine) can take several seconds.
    const deadline = Date.now() + 30_000
    while (!/culex \S+ started in \d+ ms/.test(r.stdout())) {
      if (r.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the broker did not start: exit ${r.child.exitCode}\nstdout: ${r.stdout()}\nstderr: ${r.stderr()}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return r
  }

  const configFor = (port: number) => [
    'log.console { level = notice, formatter = text }',
    'sys_topics { sys_msg_interval = disabled, sys_heartbeat_interval = disabled }',
    `listeners.tcp.default.bind = "127.0.0.1:${port}"`,
    'dashboard.listeners.http.enable = false',
    '',
  ].join('\n')

  t.test('--version prints the package version', async (t) => {
    const r = run(t, ['--version'], ROOT)
    t.equal(await r.exited, 0)
    t.equal(r.stdout().trim(), `culex ${VERSION}`)
  })

  t.test('--help exits 0 with usage', async (t) => {
    const r = run(t, ['--help'], ROOT)
    t.equal(await r.exited, 0)
    t.match(r.stdout(), /^Usage: culex/)
    t.match(r.stdout(), /--config FILE/)
  })

  t.test('a config file with a syntax error names file:line', async (t) => {
    const dir = t.testdir({ 'broken.hocon': 'mqtt {\n  max_inflight = 10\n  idle_timeout = = 5s\n}\n' })
    const file = join(dir, 'broken.hocon')
    const r = run(t, ['-c', file], dir)
    const code = await r.exited
    t.not(code, 0, `exits non-zero (${code})`)
    t.match(r.stderr(), `${file}:3`, 'stderr names the file and line 3')
    t.equal(r.stdout(), '', 'nothing was started')
  })

  t.test('an unknown key names the key path and file:line', async (t) => {
    const dir = t.testdir({ 'unknown.hocon': 'mqtt {\n  max_inflight = 10\n  no_such_key = 1\n}\n' })
    const file = join(dir, 'unknown.hocon')
    const r = run(t, ['-c', file], dir)
    t.not(await r.exited, 0)
    t.match(r.stderr(), 'mqtt.no_such_key')
    t.match(r.stderr(), `${file}:3`)
  })

  t.test('a clean start at the default log level prints one line per listener, the API and the start time', async (t) => {
    const ca = await createCa({ cn: 'Start-up CA' })
    const server = await issueServer({ ca, cn: 'localhost', sans: ['localhost'] })
    const [tcp, ssl, ws, api] = [await freePort(), await freePort(), await freePort(), await freePort()]
    const r = await start(t, [
      `listeners.tcp.default.bind = "127.0.0.1:${tcp}"`,
      `listeners.ssl.default { bind = "127.0.0.1:${ssl}", ssl_options { cacertfile = "ca.pem", certfile = "server.pem", keyfile = "server.key", verify = verify_peer, fail_if_no_peer_cert = true } }`,
      `listeners.ws.default.bind = "127.0.0.1:${ws}"`,
      `dashboard.listeners.http.bind = "127.0.0.1:${api}"`,
      'sys_topics { sys_msg_interval = disabled, sys_heartbeat_interval = disabled }',
      '',
    ].join('\n'), {}, { 'ca.pem': ca.certPem, 'server.pem': server.certPem, 'server.key': server.keyPem })
    const lines = r.stdout().trim().split('\n').map((l) => l.replace(/^\S+ /, ''))
    for (const expected of [
      `[notice] listener tcp:default on 127.0.0.1:${tcp} listener=tcp:default`,
      `[notice] listener ssl:default on 127.0.0.1:${ssl} (TLS 1.2-1.3, verify_peer, fail_if_no_peer_cert) listener=ssl:default`,
      `[notice] listener ws:default on 127.0.0.1:${ws} (path /mqtt) listener=ws:default`,
    ]) t.ok(lines.includes(expected), expected)
    t.ok(lines.some((l) => l.startsWith(`[notice] management API on http://127.0.0.1:${api} (no API key: 127.0.0.1 only)`)), 'the API line')
    t.match(lines.at(-1), /^\[notice\] culex \S+ started in \d+ ms /)
    t.same(lines.filter((l) => !/^\[(notice|warning)\]/.test(l)), [], 'nothing below notice')
  })

  t.test('a configuration error in a TLS file exits 2, naming the file and the command that makes it', async (t) => {
    const dir = t.testdir({
      'tls.hocon': [
        'listeners.tcp.default.enable = false',
        'listeners.ssl.default { bind = "127.0.0.1:0", ssl_options { certfile = "etc/certs/server-cert.pem", keyfile = "etc/certs/server-key.pem" } }',
        'dashboard.listeners.http.enable = false',
        '',
      ].join('\n'),
    })
    const r = run(t, ['-c', join(dir, 'tls.hocon')], dir)
    t.equal(await r.exited, 2)
    t.match(r.stderr(), 'listener ssl:default: ssl_options.certfile etc/certs/server-cert.pem: ENOENT, no such file; make a development CA and server certificate with: npx culex certs init --dir etc/certs')
  })

  t.test('an authenticator that cannot be made from its settings exits 2, saying what is missing', async (t) => {
    const dir = t.testdir({
      'jwt.hocon': [
        'listeners.tcp.default.bind = "127.0.0.1:0"',
        'dashboard.listeners.http.enable = false',
        'authentication = [{ mechanism = jwt, algorithm = hmac-based }]',
        '',
      ].join('\n'),
    })
    const r = run(t, ['-c', join(dir, 'jwt.hocon')], dir)
    t.equal(await r.exited, 2, 'a configuration error')
    t.match(r.stderr(), 'jwt authenticator: algorithm = hmac-based needs a secret')
  })

  t.test('a missing config file exits non-zero naming it', async (t) => {
    const dir = t.testdir({})
    const file = join(dir, 'absent.hocon')
    const r = run(t, ['-c', file], dir)
    t.not(await r.exited, 0)
    t.match(r.stderr(), file)
  })

  t.test('starts, accepts MQTT, and SIGTERM exits 0 after DISCONNECT 0x8B', async (t) => {
    const port = await freePort()
    const r = await start(t, configFor(port))
    t.match(r.stdout(), `tcp:default=127.0.0.1:${port}`, 'the start-up line names the listener')

    const client = await connectClient(port, { protocolVersion: 5, clientId: 'cli-client' })
    client.on('error', () => {})
    const disconnect = new Promise<number | undefined>((resolve) => client.once('disconnect', (p) => resolve(p.reasonCode)))
    await client.subscribeAsync('cli/t', { qos: 1 })
    const got = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString())))
    await client.publishAsync('cli/t', 'through the cli', { qos: 1 })
    t.equal(await got, 'through the cli', 'routes messages')

    r.child.kill('SIGTERM')
    t.equal(await disconnect, 0x8b, 'the MQTT 5 client gets DISCONNECT 0x8B')
    t.equal(await r.exited, 0, 'exit code 0')
    t.match(r.stdout(), /stopping/, 'it logged the stop')
    client.end(true)
  })

  t.test('EMQX_LISTENERS__TCP__DEFAULT__BIND moves the port', async (t) => {
    const filePort = await freePort()
    const envPort = await freePort()
    const r = await start(t, configFor(filePort), { EMQX_LISTENERS__TCP__DEFAULT__BIND: `127.0.0.1:${envPort}` })
    t.match(r.stdout(), `tcp:default=127.0.0.1:${envPort}`, 'listening on the environment\'s port')
    t.notMatch(r.stdout(), `127.0.0.1:${filePort}`, 'not on the file\'s')
    const client = await connectClient(envPort, { clientId: 'env-client' })
    t.ok(client.connected)
    await end(client)
    r.child.kill('SIGINT')
    t.equal(await r.exited, 0, 'SIGINT stops it cleanly too')
  })
})
