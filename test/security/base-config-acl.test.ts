// The shipped configuration loads etc/acl.conf (issue 15, item 12), as EMQX's default authorization source
// does: `culex -c <base.hocon>` run from the repository root, its ports moved, refuses $SYS/# and the "#"
// filter to a client that is not on 127.0.0.1, allows them on 127.0.0.1, and leaves ordinary topics open.
import { once } from 'node:events'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqttPacket, { type Packet } from 'mqtt-packet'
import t from 'tap'
import { Authorizer } from '../../src/auth/authz.js'
import { loadConfig } from '../../src/config/load.js'
import { collect, connectClient, delay, end, freePort, memoryLog, spawnBrokerProcess } from '../helpers.js'

const BASE = fileURLToPath(new URL('../../etc/base.hocon', import.meta.url))

/** An MQTT 3.1.1 client whose connection comes from `localAddress` (another loopback address than 127.0.0.1). */
async function clientFrom (localAddress: string, port: number) {
  const socket = netConnect({ host: '127.0.0.1', port, localAddress })
  socket.on('error', () => {})
  await once(socket, 'connect')
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const packets: Packet[] = []
  parser.on('packet', (p: Packet) => packets.push(p))
  socket.on('data', (c: Buffer) => parser.parse(c))
  const send = (p: Packet) => socket.write(mqttPacket.generate(p, { protocolVersion: 4 }))
  const next = async <C extends Packet['cmd']> (cmd: C): Promise<Extract<Packet, { cmd: C }>> => {
    const deadline = Date.now() + 3000
    for (;;) {
      const at = packets.findIndex((p) => p.cmd === cmd)
      if (at >= 0) return packets.splice(at, 1)[0] as Extract<Packet, { cmd: C }>
      if (Date.now() > deadline) throw new Error(`no ${cmd} within 3 s`)
      await delay(10)
    }
  }
  return { socket, send, next, packets }
}

t.test('etc/base.hocon with etc/acl.conf: $SYS/# only from 127.0.0.1', async (t) => {
  const dir = t.testdir({})
  const port = await freePort()
  const hocon = [
    `include ${JSON.stringify(BASE)}`,
    `node.data_dir = ${JSON.stringify(join(dir, 'data'))}`,
    `listeners.tcp.default.bind = "127.0.0.1:${port}"`,
    'listeners.ssl.default.enable = false',
    'listeners.ws.default.enable = false',
    'listeners.wss.default.enable = false',
    'dashboard.listeners.http.enable = false',
    'sys_topics.sys_heartbeat_interval = 1s',
    '',
  ].join('\n')
  await spawnBrokerProcess(t, join(dir, 'culex.hocon'), hocon, port)

  const remote = await clientFrom('127.0.0.2', port)
  t.teardown(() => { remote.socket.destroy() })
  remote.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'remote' })
  t.equal((await remote.next('connack')).returnCode, 0, 'an anonymous client connects')
  remote.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$SYS/#', qos: 0 }, { topic: '#', qos: 0 }, { topic: 'a/+', qos: 1 }] })
  t.same((await remote.next('suback')).granted, [0x80, 0x80, 1], '$SYS/# and # refused, a/+ granted')

  const local = await connectClient(port, { clientId: 'local' })
  t.teardown(() => end(local, true))
  const inbox = collect(local)
  const granted = await local.subscribeAsync({ '$SYS/#': { qos: 0 }, 'a/b': { qos: 1 } })
  t.same(granted.map((g) => g.qos), [0, 1], '127.0.0.1 may subscribe to $SYS/#')
  await inbox.waitFor(1, 5000)
  t.ok(inbox.messages.some((m) => m.topic.startsWith('$SYS/')), 'and gets $SYS messages')

  remote.send({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('hello'), qos: 1, messageId: 2, retain: false, dup: false })
  await remote.next('puback')
  const deadline = Date.now() + 3000
  while (!inbox.messages.some((m) => m.topic === 'a/b')) {
    if (Date.now() > deadline) throw new Error('a/b not delivered')
    await delay(20)
  }
  t.pass('an ordinary topic works between them')
  const echoed = await remote.next('publish')
  t.equal(echoed.topic, 'a/b', 'the remote client gets a/b through a/+')
  t.notOk(remote.packets.some((p) => p.cmd === 'publish' && p.topic.startsWith('$SYS/')), 'the remote client got no $SYS message')
})

t.test('from another working directory, the missing etc/acl.conf stops start-up and says where it looked', async (t) => {
  const { config } = loadConfig({ file: BASE, env: {} })
  const dir = t.testdir({})
  const home = process.cwd()
  process.chdir(dir)
  t.teardown(() => process.chdir(home))
  t.throws(() => new Authorizer(config.authorization, memoryLog().log), {
    code: 'CULEX_ERR_ACL_PARSE',
    message: /^etc\/acl\.conf: cannot read the ACL file \(a relative path is read from the working directory, .+\): ENOENT/,
  })
})
