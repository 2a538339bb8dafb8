import t from 'tap'
import { collect, connectClient, end, startBroker } from '../helpers.js'

t.test('a v5 subscriber receives a v3.1.1 publish through the library broker', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  await sub.subscribeAsync('smoke/#', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 4 })
  await pub.publishAsync('smoke/a', 'hello', { qos: 1 })
  const [msg] = await inbox.waitFor(1)
  t.equal(msg!.topic, 'smoke/a')
  t.equal(msg!.payload.toString(), 'hello')
  t.equal(msg!.packet.qos, 1)
  await end(pub)
  await end(sub)
})
