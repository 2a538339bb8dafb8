// acl.conf read again: when the file changes on disk (watched), and on SIGHUP to `culex start`. A file with
// an error is refused with its line, and the rules in force stay. Connected clients are decided anew at
// their next PUBLISH.
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { connectClient, connectOwned, end, freePort, startBroker, until } from '../helpers.js'
import { killGroup, spawnNodeOwned } from '../processes.js'

const CLI = join(fileURLToPath(new URL('../../', import.meta.url)), 'dist', 'broker.js')

function publish (c: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos: 1 }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

/** Writes a file as editors do: a temporary file renamed over it. */
async function replaceFile (path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text)
  await rename(`${path}.tmp`, path)
}

t.test('a change to acl.conf on disk is applied; a file with an error is refused and the old rules stay', async (t) => {
  const dir = t.testdir({ 'acl.conf': '{allow, all, publish, ["a/#"]}.\n' })
  const acl = join(dir, 'acl.conf')
  const b = await startBroker({ authorization: { no_match: 'deny', sources: [{ type: 'file', path: acl }] } })
  t.teardown(() => b.close())
  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'r1' })
  t.equal(await publish(c, 'a/1'), 0)
  t.equal(await publish(c, 'b/1'), 0x87)

  await replaceFile(acl, '{allow, all, publish, ["b/#"]}.\n')
  await until(() => b.logs.some((l) => l.msg === 'ACL file reloaded' && l.trigger === 'file change'), 'the reload')
  t.equal(await publish(c, 'b/1'), 0, 'the new rules apply to the connected client')
  t.equal(await publish(c, 'a/1'), 0x87, 'its cached allow is gone')

  await writeFile(acl, '{allow, all, publish, ["c/#"]}.\n{allow, all}\n')
  const refused = await until(() => b.logs.find((l) => String(l.msg).startsWith('ACL file not reloaded')), 'the refusal')
  t.match(refused, { level: 50, file: acl, trigger: 'file change', msg: /acl\.conf:3:1: expected "\." after the rule, got the end of the file/ }, 'logged as an error with the line')
  t.equal(await publish(c, 'b/2'), 0, 'the rules in force stay')
  t.equal(await publish(c, 'c/1'), 0x87)
  t.equal(b.broker.authz.reload('test'), 0, 'reloading by hand refuses it too')
})

t.test('SIGHUP makes `culex start` read acl.conf again', async (t) => {
  if (!existsSync(CLI)) {
    t.fail(`${CLI} is missing: run npm run build first (npm test does)`)
    return
  }
  const port = await freePort()
  const work = t.testdir({ real: { 'acl.conf': '{allow, all, publish, ["a/#"]}.\n' }, etc: {} })
  // acl.conf is a link to a file in a directory that is not watched: only SIGHUP can make the broker read it again.
  const acl = join(work, 'etc', 'acl.conf')
  await mkdir(join(work, 'etc'), { recursive: true })
  await symlink(join(work, 'real', 'acl.conf'), acl)
  await writeFile(join(work, 'culex.hocon'), [
    'log.console { level = info, formatter = json }',
    `node.data_dir = "${join(work, 'data')}"`,
    'sys_topics { sys_msg_interval = disabled, sys_heartbeat_interval = disabled }',
    `listeners.tcp.default.bind = "127.0.0.1:${port}"`,
    'listeners.ssl.default.enable = false',
    'listeners.ws.default.enable = false',
    'listeners.wss.default.enable = false',
    'dashboard.listeners.http.enable = false',
    `authorization { no_match = deny, sources = [{ type = file, path = "${acl}" }] }`,
    '',
  ].join('\n'))
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EMQX_') && !k.startsWith('CULEX_') && k !== 'NODE_OPTIONS') env[k] = v
  const child = spawnNodeOwned(t, [CLI, '-c', join(work, 'culex.hocon')], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const exited = once(child, 'close')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) killGroup(child)
    await exited
  })
  const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  await until(() => child.exitCode !== null || lines().some((l) => /^culex \S+ started in \d+ ms$/.test(String(l.msg))), 'start-up', 30_000)
  t.equal(child.exitCode, null, 'started')
  const c = await connectClient(port, { protocolVersion: 5, clientId: 'hup' })
  t.teardown(() => end(c, true))
  t.equal(await publish(c, 'b/1'), 0x87)

  // Nothing watches the real file: the reload logged with trigger SIGHUP is the signal's (a reload by the
  // watcher would have left the signal nothing new to read, and nothing to log).
  await writeFile(join(work, 'real', 'acl.conf'), '{allow, all, publish, ["b/#"]}.\n')
  child.kill('SIGHUP')
  await until(() => lines().some((l) => l.msg === 'ACL file reloaded' && l.trigger === 'SIGHUP'), 'the SIGHUP reload')
  t.equal(await publish(c, 'b/1'), 0, 'applied after SIGHUP, to the connected client')
  child.kill('SIGTERM')
  t.equal((await exited)[0], 0, 'SIGTERM still stops it cleanly')
})
