// createBroker's defaults for a broker inside someone else's tests: nothing shared through ./data, no API on 18083.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createBroker, type Broker } from '../../src/index.js'
import { collect, connectClient, memoryLog } from '../helpers.js'

const tcpOnly = { listeners: { tcp: { default: { bind: '127.0.0.1:0' } } } }

async function start (t: Test, config: Record<string, unknown> = {}): Promise<Broker> {
  const broker = await createBroker({ logger: memoryLog().log, config: { ...tcpOnly, ...config } })
  t.teardown(() => broker.close())
  return broker
}

async function retainedOn (broker: Broker, topic: string): Promise<number> {
  const client = await connectClient(broker.port('tcp'))
  const got = collect(client)
  await client.subscribeAsync([topic, 'probe/flush'])
  // A retained message is sent before the SUBACK, so it has arrived once the client's own probe comes back.
  await client.publishAsync('probe/flush', '')
  await got.waitFor(1)
  while (!got.messages.some((m) => m.topic === 'probe/flush')) await got.waitFor(got.messages.length + 1)
  await client.endAsync()
  return got.messages.filter((m) => m.topic === topic).length
}

t.test('two embedded brokers in one process share no retained message', async (t) => {
  const a = await start(t)
  const b = await start(t)
  a.publish('shared/state', 'from a', { retain: true })
  t.equal(await retainedOn(a, 'shared/state'), 1, 'the broker that took it has it')
  t.equal(await retainedOn(b, 'shared/state'), 0, 'the other broker does not')
  t.equal(a.store.backend, 'memory')
})

t.test('a retained message does not outlive the embedded broker that took it', async (t) => {
  const first = await createBroker({ logger: memoryLog().log, config: tcpOnly })
  first.publish('run/state', 'previous run', { retain: true })
  await first.close()
  const second = await start(t)
  t.equal(await retainedOn(second, 'run/state'), 0)
})

t.test('naming node.data_dir keeps the store on disk there', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'culex-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const first = await createBroker({ logger: memoryLog().log, config: { ...tcpOnly, node: { data_dir: dir } } })
  first.publish('disk/state', 'kept', { retain: true })
  await first.close()
  t.ok((await readdir(dir)).includes('store'), 'the LMDB store is in node.data_dir')
  const second = await start(t, { node: { data_dir: dir } })
  t.equal(await retainedOn(second, 'disk/state'), 1)
})

t.test('an embedded broker opens no management API unless configured', async (t) => {
  const broker = await start(t)
  t.equal(broker.api, null)
  t.throws(() => broker.port('api'), /management API is not running/)
})

t.test('a configured API with port 0 binds a free port, returned by port("api")', async (t) => {
  const broker = await start(t, { dashboard: { listeners: { http: { bind: '127.0.0.1:0' } } } })
  const port = broker.port('api')
  t.not(port, 18083)
  const res = await fetch(`http://127.0.0.1:${port}/api/v5/status`)
  t.equal(res.status, 200)
})
