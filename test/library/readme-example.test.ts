import t from 'tap'
import mqtt from 'mqtt'
import { createBroker } from 'culex'

t.test('a subscriber receives what a publisher sends', async (t) => {
  // An embedded broker keeps its store in memory and opens no management API unless configured.
  const broker = await createBroker({ config: { listeners: { tcp: { default: { bind: '127.0.0.1:0' } } } } })
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port('tcp')}`)
  t.teardown(async () => {
    await client.endAsync()
    await broker.close()
  })

  await client.subscribeAsync('greetings/#')
  const received = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString())))
  await client.publishAsync('greetings/world', 'hello')
  t.equal(await received, 'hello')
})
