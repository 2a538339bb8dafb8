// Direct connections between the workers of one host (node.workers = 2, through `culex start`): messages
// cross from worker to worker without the primary (its relayed-bytes counter stays put), in order across
// the switch from the primary's relay to the direct connection, and a worker that stops reading holds the
// sending worker's publishers without that worker growing without bound.
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import { collect, delay, until } from '../helpers.js'
import { rssKiB, startWorkers, stopProcess } from './workers-helpers.js'

const { primary, data, logLines, apiText, pidOf, clientOn } = await startWorkers(t, 'direct-workers', `cluster.heartbeat_interval = 200ms
cluster.node_timeout = 3s
# no retained $SYS messages, which go to every worker: the first message from one worker to the other is the test's
sys_topics.sys_msg_interval = disabled
sys_topics.sys_heartbeat_interval = disabled
# the flood offers 96 MiB of QoS 1 messages (1,536) to one subscriber at once: what waits for a busy
# machine's client to acknowledge must fit the session's queue limits, or the oldest are dropped
mqtt.max_mqueue_len = 4000
force_shutdown.max_heap_size = 256MB
`)

/** Bytes the primary relayed between the workers (all of them: either worker answers the same). */
async function relayed (): Promise<number> {
  const text = await apiText('/api/v5/prometheus/stats')
  const m = /^culex_workers_relayed_bytes_total (\d+)$/m.exec(text)
  if (!m) throw new Error('no culex_workers_relayed_bytes_total in the metrics')
  return Number(m[1])
}

/** A subscriber on one worker and a publisher on the other. */
async function pair (tt: Test, filter: string): Promise<{ sub: MqttClient, pub: MqttClient, subNode: string, pubNode: string }> {
  const { c: sub, node: subNode } = await clientOn(tt, null)
  await sub.subscribeAsync(filter, { qos: 1 })
  for (let attempt = 0; attempt < 20; attempt++) {
    const { c: pub, node: pubNode } = await clientOn(tt, null)
    if (pubNode !== subNode) return { sub, pub, subNode, pubNode }
  }
  throw new Error('no connection landed on the other worker')
}

t.test('the sockets are in a private directory under node.data_dir', async (t) => {
  const info = await stat(join(data, 'workers'))
  t.equal(info.mode & 0o777, 0o700, 'node.data_dir/workers is 0700')
  const sockets = await readdir(join(data, 'workers'))
  t.same(sockets.sort(), [`${primary.pid}.1.sock`, `${primary.pid}.2.sock`], 'one socket per worker, named after the primary')
})

// First, while no message has crossed yet: the first go through the primary while the connection comes
// up. The primary is stopped meanwhile, so that the relay is the slower way: a message written on the
// direct connection would overtake those held in the primary, unless the receiving worker waits for them.
t.test('1..N published at once right after start reach the other worker in order across the switch to the direct connection', async (t) => {
  const { sub, pub } = await pair(t, 'order/#')
  const got = collect(sub)
  const before = await relayed()
  const count = 3000
  const pad = 'x'.repeat(2000)
  const resume = stopProcess(t, primary.pid!)
  let acked = 0
  const acks = Array.from({ length: count }, (_, i) => pub.publishAsync(`order/${i % 7}`, `${i + 1} ${pad}`, { qos: 1 }).then(() => { acked++ }))
  // Acknowledged: the publisher's worker has sent each on, through the primary or straight.
  await until(() => acked === count, 'every message acknowledged', 30_000)
  resume()
  await Promise.all(acks)
  await got.waitFor(count, 30_000)
  const numbers = got.messages.map((m) => Number(m.payload.toString().split(' ')[0]))
  t.same(numbers, Array.from({ length: count }, (_, i) => i + 1), `${count} messages, in the order published`)
  const through = await relayed() - before
  t.ok(through > 0, `the first went through the primary (${through} bytes)`)
  t.ok(through < count * pad.length / 2, `and not half of them (${through} bytes of about ${count * (pad.length + 20)})`)
})

t.test('messages cross between the workers without the primary once the connection is up', async (t) => {
  const { sub, pub } = await pair(t, 'cross/#')
  const got = collect(sub)
  // One message opens the connection (if it is not up yet), then the count starts.
  await pub.publishAsync('cross/open', 'open', { qos: 1 })
  await got.waitFor(1, 10_000)
  const before = await relayed()
  const count = 500
  const payload = Buffer.alloc(1024, 0x63)
  for (let i = 0; i < count; i++) pub.publish(`cross/${i}`, payload, { qos: 0 })
  await got.waitFor(1 + count, 30_000)
  const through = await relayed() - before
  t.equal(got.messages.length, 1 + count, `${count} messages of 1 KiB crossed`)
  t.ok(through < count * payload.length / 100, `the primary relayed ${through} bytes of them (under 1%)`)
})

t.test('a worker that stops reading holds the sending worker\'s publishers, which never grows without bound; after SIGCONT every message arrives', async (t) => {
  const { sub, pub, subNode, pubNode } = await pair(t, 'flood/#')
  const got = collect(sub)
  await pub.publishAsync('flood/open', 'open', { qos: 1 })
  await got.waitFor(1, 10_000)
  const [subPid, pubPid] = [await pidOf(subNode), await pidOf(pubNode)]
  const before = await rssKiB(pubPid)
  const relayedBefore = await relayed()
  const holds = (await logLines()).filter((l) => String(l.msg).startsWith('workers: a worker reads the messages relayed to it too slowly')).length

  const resume = stopProcess(t, subPid)
  // 96 MiB offered to a worker that reads nothing: the sender holds at most its bound (16 MiB) of it.
  const count = 1536
  const payload = Buffer.alloc(64 * 1024, 0x66)
  let acked = 0
  const acks = Array.from({ length: count }, (_, i) => pub.publishAsync(`flood/${i}`, payload, { qos: 1 }).then(() => { acked++ }))
  const hold = await until(async () => (await logLines()).filter((l) => String(l.msg) === 'workers: a worker reads the messages relayed to it too slowly; this worker\'s publishers wait').slice(holds).at(0),
    'the sending worker holds its publishers', 30_000)
  t.same(hold.workers, [subNode], 'the sending worker names the one that reads too slowly')
  let peak = 0
  for (let i = 0; i < 10; i++) {
    peak = Math.max(peak, await rssKiB(pubPid))
    await delay(100)
  }
  t.ok(acked < count, `the publisher is held (${acked} of ${count} acknowledged)`)
  t.ok(peak - before < 64 * 1024, `the sending worker grew by ${Math.round((peak - before) / 1024)} MiB for ${count * 64 / 1024} MiB offered`)

  resume()
  await Promise.all(acks)
  await got.waitFor(1 + count, 60_000)
  t.equal(got.messages.length, 1 + count, 'every message delivered once the worker reads again')
  t.ok(await relayed() - relayedBefore < payload.length, 'none of it through the primary')
  await until(async () => (await logLines()).some((l) => l.msg === 'workers: relayed messages drained; publishers go on' && l.worker !== undefined), 'the sending worker logs the end of the hold', 10_000)
})

t.test('SIGTERM to the primary: the workers close their connections and exit, and no socket is left', async (t) => {
  const exited = new Promise<[number | null, string | null]>((resolve) => primary.once('exit', (code, signal) => resolve([code, signal])))
  primary.kill('SIGTERM')
  t.same(await Promise.race([exited, delay(30_000).then(() => null)]), [0, null], 'the primary exited with code 0')
  t.same(await readdir(join(data, 'workers')), [], 'node.data_dir/workers is empty')
})
