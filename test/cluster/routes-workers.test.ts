// Route-aware delivery between the workers of one host (node.workers = 2, through `culex start`): a
// message published right after a SUBACK on the other worker reaches the new subscriber; a worker that
// seen stopped only because its heartbeat was late is still waited for; a worker that
// dies while routes replicate delays a SUBACK only until it is seen stopped, and its successor routes to
// the subscriber; a worker that stops reading never makes the primary grow without bound.
import t from 'tap'
import { collect, delay, end, until, within } from '../helpers.js'
import { rssKiB, startWorkers, stopProcess } from './workers-helpers.js'

const { primary, logLines, pidOf, workerNames, clientOn } = await startWorkers(t, 'routes-workers', `cluster.heartbeat_interval = 200ms
# short, for the test of a dying worker, but not so short that a busy machine's late heartbeat makes a
# live worker look stopped (a SUBACK does not wait for the routes of a node seen stopped)
cluster.node_timeout = 3s
# the flood test offers 96 MiB of QoS 1 messages (1,536) to one subscriber at once: a busy machine's client
# acknowledges slowly, and what waits for it must fit the session's queue limits, or the oldest are dropped
mqtt.max_mqueue_len = 4000
force_shutdown.max_heap_size = 256MB
`)

t.test('a message published right after the SUBACK reaches the new subscriber on the other worker', async (t) => {
  const { c: sub, node: subNode } = await clientOn(t, null)
  const workers = await workerNames()
  const other = workers.find((w) => w !== subNode)!
  const { c: pub } = await clientOn(t, other)
  const got = collect(sub)
  const rounds = 30
  for (let i = 0; i < rounds; i++) {
    await sub.subscribeAsync([`fresh/${i}/x`, `fresh/${i}/+`, `fresh/${i}/#`][i % 3]!, { qos: 0 })
    pub.publish(`fresh/${i}/x`, String(i), { qos: 0 })
    await got.waitFor(i + 1, 5000)
  }
  t.same(got.messages.map((m) => m.payload.toString()), Array.from({ length: rounds }, (_, i) => String(i)), 'every message, the first after each SUBACK included')
})

t.test('a client event under $SYS reaches a subscriber on the other worker, and a shared group there', async (t) => {
  // A worker publishes a $SYS event only when a filter under $SYS is in its own tree or the route table
  // (plain filters, then `$share` groups).
  const { c: sub, node: subNode } = await clientOn(t, null)
  const other = (await workerNames()).find((w) => w !== subNode)!
  await sub.subscribeAsync('$SYS/brokers/+/clients/+/connected', { qos: 0 })
  const got = collect(sub)
  const { c: device, node } = await clientOn(t, other)
  t.equal(node, other, 'the device is on the other worker')
  const id = device.options.clientId!
  const event = (what: string) => got.messages.find((m) => m.topic === `$SYS/brokers/${other}/clients/${id}/${what}`)
  const connected = await until(() => event('connected'), 'the connected event arrives', 5000)
  t.equal(JSON.parse(connected.payload.toString()).clientid, id, 'the connected event names the device')

  await sub.unsubscribeAsync('$SYS/brokers/+/clients/+/connected')
  await sub.subscribeAsync('$share/ops/$SYS/brokers/+/clients/+/disconnected', { qos: 0 })
  await delay(500) // the removed route reaches the other worker: only the group is left under $SYS
  await end(device)
  const disconnected = await until(() => event('disconnected'), 'the shared group gets the disconnected event', 5000)
  t.equal(JSON.parse(disconnected.payload.toString()).reason, 'normal', 'the disconnected event says why')
})

t.test('a worker seen stopped only because its heartbeat was late still gets the routes before the SUBACK', async (t) => {
  const { c: sub, node: subNode } = await clientOn(t, null)
  const workers = await workerNames()
  const other = workers.find((w) => w !== subNode)!
  const { c: pub } = await clientOn(t, other)
  const got = collect(sub)
  const stoppedLines = async () => (await logLines()).filter((l) => l.msg === 'cluster: a node stopped' && l.node === other).length
  const before = await stoppedLines()
  const resume = stopProcess(t, await pidOf(other))
  await until(async () => (await stoppedLines()) > before, 'the subscriber\'s worker sees the other stopped', 15_000)
  // Stopped, it cannot acknowledge: the SUBACK waits for it (up to 3 s) rather than take it for gone.
  let subacked = false
  const suback = sub.subscribeAsync('late/+', { qos: 0 }).then(() => { subacked = true })
  await delay(1000)
  t.notOk(subacked, 'no SUBACK while the worker that may only be late has not acknowledged the route')
  resume()
  await suback
  pub.publish('late/1', 'after a late heartbeat', { qos: 0 })
  await got.waitFor(1, 5000)
  t.equal(got.messages[0]!.payload.toString(), 'after a late heartbeat', 'the first message after the SUBACK arrived')
})

t.test('a worker dies while routes replicate: the SUBACK still comes, and the new worker routes to the subscriber', async (t) => {
  const { c: sub, node: subNode } = await clientOn(t, null)
  const workers = await workerNames()
  const other = workers.find((w) => w !== subNode)!
  const pid = await pidOf(other)
  t.ok(pid > 0, `the other worker's process (${pid})`)
  const got = collect(sub)
  const startsBefore = (await logLines()).filter((l) => l.msg === 'workers: worker started').length

  process.kill(pid, 'SIGSTOP')
  const suback = sub.subscribeAsync('gone/#', { qos: 1 })
  t.ok(await within(15_000, suback), 'the SUBACK comes although the stopped worker never acknowledged the route')
  process.kill(pid, 'SIGKILL')
  await until(async () => (await logLines()).filter((l) => l.msg === 'workers: worker started').length > startsBefore, 'the worker forked again', 30_000)

  const { c: pub } = await clientOn(t, other)
  await pub.publishAsync('gone/1', 'from the new worker', { qos: 1 })
  await got.waitFor(1, 5000)
  t.equal(got.messages[0]!.payload.toString(), 'from the new worker', 'the new worker learnt the route when it started')
})

t.test('a worker that stops reading never makes the primary grow without bound', async (t) => {
  const { c: sub, node: subNode } = await clientOn(t, null)
  await sub.subscribeAsync('flood/#', { qos: 1 })
  const got = collect(sub)
  const workers = await workerNames()
  const { c: pub } = await clientOn(t, workers.find((w) => w !== subNode)!)
  const pid = await pidOf(subNode)
  const before = await rssKiB(primary.pid!)

  process.kill(pid, 'SIGSTOP')
  let resumed = false
  t.teardown(() => { if (!resumed) process.kill(pid, 'SIGCONT') })
  // 96 MiB offered to a worker that reads nothing: the primary holds at most its bound (16 MiB) of it.
  const count = 1536
  const payload = Buffer.alloc(64 * 1024, 0x66)
  let acked = 0
  const acks = Array.from({ length: count }, (_, i) => pub.publishAsync(`flood/${i}`, payload, { qos: 1 }).then(() => { acked++ }))
  await until(async () => (await logLines()).some((l) => String(l.msg).startsWith('workers: a worker reads the messages relayed to it too slowly')), 'the primary holds the publishers', 30_000)
  let peak = 0
  for (let i = 0; i < 10; i++) {
    peak = Math.max(peak, await rssKiB(primary.pid!))
    await delay(100)
  }
  t.ok(acked < count, `the publisher is held (${acked} of ${count} acknowledged)`)
  t.ok(peak - before < 64 * 1024, `the primary grew by ${Math.round((peak - before) / 1024)} MiB for ${count * 64 / 1024} MiB offered`)

  process.kill(pid, 'SIGCONT')
  resumed = true
  await Promise.all(acks)
  await got.waitFor(count, 30_000)
  t.equal(got.messages.length, count, 'every message delivered once the worker reads again')
})
