import t from 'tap'
import { createMessage, type Message } from '../../src/mqtt/message.js'
import { MemoryRetainedStore } from '../../src/mqtt/store/retained.js'
import { topicMatches } from '../../src/mqtt/topic.js'

const msg = (topic: string, payload = topic): Message => createMessage(topic, Buffer.from(payload), 0, true)
const topicsOf = (messages: Message[]) => messages.map((m) => m.topic).sort()

const TOPICS = ['a', 'a/b', 'a/b/c', 'a/x/c', 'a//c', '/', '/a', 'b', '$SYS', '$SYS/uptime', '$SYS/brokers/n1', 'a/$x', 'ü/€']

t.test('set, get, overwrite, clear with an empty payload, size', async (t) => {
  const store = new MemoryRetainedStore()
  t.equal(store.size, 0)
  store.set(msg('a/b', 'one'))
  store.set(msg('a/b/c'))
  t.equal(store.size, 2)
  t.equal(store.get('a/b')?.payload.toString(), 'one')
  t.equal(store.get('a'), undefined, 'an inner node holds no message')
  t.equal(store.get('a/b/c/d'), undefined)

  store.set(msg('a/b', 'two'))
  t.equal(store.size, 2, 'replacing does not grow the store')
  t.equal(store.get('a/b')?.payload.toString(), 'two')

  store.set(msg('a/b', ''))
  t.equal(store.size, 1, 'an empty payload clears the topic [MQTT-3.3.1-6]')
  t.equal(store.get('a/b'), undefined)
  t.equal(store.get('a/b/c')?.topic, 'a/b/c', 'clearing a topic keeps the topics below it')

  store.set(msg('never/set', ''))
  store.set(msg('a', ''))
  t.equal(store.size, 1, 'clearing a topic that holds nothing changes nothing')

  store.set(msg('a/b/c', ''))
  t.equal(store.size, 0)
  t.same(store.match('#'), [], 'nothing left anywhere')

  store.set(msg('x'))
  store.set(msg('y/z'))
  store.clear()
  t.equal(store.size, 0)
  t.same(store.match('#'), [])
  store.set(msg('x'))
  t.equal(store.size, 1, 'usable after clear()')
})

t.test('match agrees with topicMatches, $ topics included', async (t) => {
  const store = new MemoryRetainedStore()
  for (const topic of TOPICS) store.set(msg(topic))
  t.equal(store.size, TOPICS.length)
  const filters = ['#', '+', '+/+', '+/#', 'a', 'a/#', 'a/+', 'a/+/c', '/#', '+/c', '$SYS/#', '$SYS/+', '$SYS', '+/uptime', 'a/b/c/#', 'ü/+', 'nothing/#']
  for (const filter of filters) {
    t.same(topicsOf(store.match(filter)), TOPICS.filter((topic) => topicMatches(filter, topic)).sort(), filter)
  }
})

t.test('match table', async (t) => {
  const store = new MemoryRetainedStore()
  for (const topic of TOPICS) store.set(msg(topic))
  const table: [string, string[]][] = [
    ['a/#', ['a', 'a/b', 'a/b/c', 'a/x/c', 'a//c', 'a/$x']],
    ['a/+', ['a/b', 'a/$x']],
    ['#', TOPICS.filter((x) => !x.startsWith('$'))],
    ['+', ['a', 'b']],
    ['$SYS/#', ['$SYS', '$SYS/uptime', '$SYS/brokers/n1']],
    ['+/uptime', []],
    ['a/b', ['a/b']],
    ['a/b/c/#', ['a/b/c']],
  ]
  for (const [filter, expected] of table) t.same(topicsOf(store.match(filter)), [...expected].sort(), filter)
})

t.test('match returns the stored messages themselves', async (t) => {
  const store = new MemoryRetainedStore()
  const m = msg('a/b', 'payload')
  store.set(m)
  t.equal(store.match('a/+')[0], m)
  t.equal(store.get('a/b'), m)
})
