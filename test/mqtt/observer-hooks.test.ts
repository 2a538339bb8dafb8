// Observer hooks (published, clientConnected, clientDisconnected) are user code: one that throws is
// logged, and neither the broker, the client nor the other hooks notice.
import t from 'tap'
import { collect, connectClient, delay, end, startBroker } from '../helpers.js'

t.test('hooks that throw are logged and change nothing', async (t) => {
  const seen: string[] = []
  const b = await startBroker({}, {
    hooks: {
      published: [() => { throw new Error('published boom') }, (m) => { seen.push(`published ${m.topic}`) }],
      clientConnected: [() => { throw new Error('connected boom') }, (c) => { seen.push(`connected ${c.clientId}`) }],
      clientDisconnected: [() => { throw new Error('disconnected boom') }, (c) => { seen.push(`disconnected ${c.clientId}`) }],
    },
  })
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { clientId: 'sub' })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('h/#', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { clientId: 'pub' })
  await pub.publishAsync('h/1', 'x', { qos: 1 })
  await got.waitFor(1)
  t.equal(got.messages[0]?.topic, 'h/1', 'the message was delivered and acknowledged')
  // An abrupt close runs clientDisconnected from the socket's close handler.
  pub.stream.destroy()
  const deadline = Date.now() + 2000
  while (!seen.includes('disconnected pub') && Date.now() < deadline) await delay(10)
  t.ok(seen.includes('connected pub') && seen.includes('published h/1') && seen.includes('disconnected pub'), 'the hooks after the throwing ones still ran')
  const again = await connectClient(b.tcpPort, { clientId: 'again' })
  t.ok(again.connected, 'the broker still accepts clients')
  await end(again, true)
  for (const hook of ['published', 'clientConnected', 'clientDisconnected']) {
    t.ok(b.logs.some((l) => l.hook === hook && typeof l.msg === 'string' && l.msg.includes(`a ${hook} hook threw`)), `a log line for the ${hook} hook`)
  }
})
