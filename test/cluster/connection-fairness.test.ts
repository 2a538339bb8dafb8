// Connection distribution between the workers of one host (node.workers = 2, through `culex start`): the
// primary hands a new connection only to a worker that has taken the one before, so a worker that is
// behind gets fewer. Here one is stopped outright: it holds the one connection it was handed, and every
// other goes to the worker that keeps up.
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { end, until } from '../helpers.js'
import { startWorkers, stopProcess } from './workers-helpers.js'

const { tcp, pidOf, workerNames, nodeOf } = await startWorkers(t, 'fairness', '')

t.test('a worker that stops taking connections is handed at most one; the other worker takes the rest', async (t) => {
  const [stopped, running] = await workerNames() as [string, string]
  const resume = stopProcess(t, await pidOf(stopped))
  const count = 12
  const connected = new Set<string>()
  const clients: MqttClient[] = []
  for (let i = 0; i < count; i++) {
    const clientId = `fair-${i}`
    const c = mqtt.connect(`mqtt://127.0.0.1:${tcp}`, { clientId, reconnectPeriod: 0, connectTimeout: 60_000 })
    c.on('connect', () => connected.add(clientId))
    c.on('error', () => {})
    clients.push(c)
  }
  t.teardown(() => Promise.all(clients.map((c) => end(c, true))))

  await until(() => connected.size >= count - 1, `${count - 1} of ${count} clients connected while a worker is stopped`, 20_000)
  t.ok(connected.size >= count - 1, `${connected.size} of ${count} connected while a worker is stopped`)
  const nodes = await Promise.all([...connected].map((id) => nodeOf(id)))
  t.same([...new Set(nodes)], [running], 'every one of them on the worker that keeps up')

  resume()
  await until(() => connected.size === count, 'every client connected once the worker runs again', 20_000)
  t.equal(connected.size, count, 'the connection the stopped worker held is served once it runs')
})
