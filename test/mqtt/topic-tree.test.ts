import t from 'tap'
import { topicMatches } from '../../src/mqtt/topic.js'
import { TopicTree, type Subscription } from '../../src/mqtt/topic-tree.js'

interface Client { readonly clientId: string }

function sub (subscriber: Client, filter: string, qos: 0 | 1 | 2 = 0): Subscription<Client> {
  return { filter, subscriber, qos, nl: false, rap: false, rh: 0, id: 0 }
}

const filtersOf = (tree: TopicTree<Client>, topic: string) => tree.match(topic).subscriptions.map((s) => s.filter).sort()

const FILTERS = ['#', '+', '+/+', '+/#', 'a', 'a/b', 'a/+', 'a/#', 'a/+/c', 'a/b/c', '/#', '+/b', '$SYS/#', '$SYS/+', '$SYS', 'a//c', 'a/$x']
const TOPICS = ['a', 'a/b', 'a/b/c', 'a/x/c', 'a//c', 'a/', '/', '/a', 'b', 'x/b', '$SYS', '$SYS/a', '$SYS/a/b', 'a/$x', '$other/b']

t.test('match agrees with topicMatches for every filter and topic, $ rules included', async (t) => {
  const tree = new TopicTree<Client>()
  for (const filter of FILTERS) tree.add(sub({ clientId: filter }, filter), filter)
  t.equal(tree.size, FILTERS.length)
  for (const topic of TOPICS) {
    t.same(filtersOf(tree, topic), FILTERS.filter((f) => topicMatches(f, topic)).sort(), topic)
  }
})

t.test('match table', async (t) => {
  const tree = new TopicTree<Client>()
  for (const filter of FILTERS) tree.add(sub({ clientId: filter }, filter), filter)
  const table: [string, string[]][] = [
    ['a', ['#', '+', '+/#', 'a', 'a/#']],
    ['a/b', ['#', '+/#', '+/+', '+/b', 'a/#', 'a/+', 'a/b']],
    ['a/b/c', ['#', '+/#', 'a/#', 'a/+/c', 'a/b/c']],
    ['/', ['#', '+/#', '+/+', '/#']],
    ['$SYS', ['$SYS', '$SYS/#']],
    ['$SYS/a', ['$SYS/#', '$SYS/+']],
    ['$other/b', []],
    ['a/$x', ['#', '+/#', '+/+', 'a/#', 'a/$x', 'a/+']],
  ]
  for (const [topic, expected] of table) t.same(filtersOf(tree, topic), [...expected].sort(), topic)
})

t.test('shared groups come apart from plain subscriptions', async (t) => {
  const tree = new TopicTree<Client>()
  const c1 = { clientId: 'c1' }
  const c2 = { clientId: 'c2' }
  const c3 = { clientId: 'c3' }
  tree.add(sub(c1, '$share/g1/a/+'), 'a/+', 'g1')
  tree.add(sub(c2, '$share/g1/a/+'), 'a/+', 'g1')
  tree.add(sub(c3, '$share/g2/a/+'), 'a/+', 'g2')
  tree.add(sub(c3, 'a/b'), 'a/b')
  t.equal(tree.size, 4, 'shared members count in size')

  const m = tree.match('a/b')
  t.same(m.subscriptions.map((s) => s.subscriber.clientId), ['c3'])
  t.same(m.groups.map((g) => [g.key, g.name, g.filter, g.members.map((s) => s.subscriber.clientId)]),
    [['g1/a/+', 'g1', 'a/+', ['c1', 'c2']], ['g2/a/+', 'g2', 'a/+', ['c3']]])
  const all = new TopicTree<Client>()
  all.add(sub(c1, '$share/g/#'), '#', 'g')
  t.equal(all.match('x/b').groups.length, 1)
  t.same(all.match('$SYS/b').groups, [], 'a shared wildcard filter does not match a $ topic either')

  tree.add(sub(c1, '$share/g1/a/+', 2), 'a/+', 'g1')
  t.equal(tree.size, 4, 're-adding a member replaces it')
  const g1 = tree.group('a/+', 'g1')!
  t.same(g1.members.map((s) => [s.subscriber.clientId, s.qos]), [['c1', 2], ['c2', 0]], 'in place, keeping the order')

  t.equal(tree.remove(c1, 'a/+', 'g1'), true)
  t.equal(tree.remove(c1, 'a/+', 'g1'), false, 'removing twice')
  t.equal(tree.remove(c1, 'a/+'), false, 'a shared member is not a plain subscription')
  t.equal(tree.remove(c2, 'a/+', 'g1'), true)
  t.equal(tree.group('a/+', 'g1'), undefined, 'an empty group is dropped')
  t.same(tree.match('a/b').groups.map((g) => g.name), ['g2'])
  t.equal(tree.size, 2)
})

t.test('remove prunes empty branches and leaves the rest', async (t) => {
  const tree = new TopicTree<Client>()
  const c = { clientId: 'c' }
  tree.add(sub(c, 'a/b'), 'a/b')
  tree.add(sub(c, 'a/b/c/d'), 'a/b/c/d')
  tree.add(sub(c, 'a/b/x'), 'a/b/x')
  tree.add(sub(c, '$share/g/a/b/c'), 'a/b/c', 'g')

  t.equal(tree.remove(c, 'a/b/c/d'), true)
  t.same(filtersOf(tree, 'a/b/c/d'), [], 'the removed leaf no longer matches')
  t.same(tree.match('a/b/c').groups.map((g) => g.name), ['g'], 'a node holding a group survives the pruning below it')
  t.same(filtersOf(tree, 'a/b/x'), ['a/b/x'], 'a sibling survives')
  t.same(filtersOf(tree, 'a/b'), ['a/b'], 'an ancestor with a subscription survives')

  t.equal(tree.remove(c, 'a/b/c', 'g'), true)
  t.equal(tree.remove(c, 'a/b/x'), true)
  t.equal(tree.remove(c, 'a/b'), true)
  t.equal(tree.size, 0)
  for (const topic of ['a', 'a/b', 'a/b/c', 'a/b/x']) t.same(tree.match(topic), { subscriptions: [], groups: [] }, `${topic} matches nothing`)
  t.equal(tree.remove(c, 'a/b'), false, 'a pruned path is gone')
  t.equal(tree.remove(c, 'never/added'), false)

  tree.add(sub(c, 'a/b/c/d'), 'a/b/c/d')
  t.same(filtersOf(tree, 'a/b/c/d'), ['a/b/c/d'], 'a pruned path can be added again')
})

t.test('remove needs the same subscriber, not only the same client id', async (t) => {
  const tree = new TopicTree<Client>()
  const old = { clientId: 'c' }
  const taken = { clientId: 'c' }
  tree.add(sub(taken, 'a'), 'a')
  t.equal(tree.remove(old, 'a'), false, 'an older session of the same client id cannot remove it')
  t.same(filtersOf(tree, 'a'), ['a'])
  t.equal(tree.size, 1)
})

t.test('the match cache is dropped on add and remove', async (t) => {
  const tree = new TopicTree<Client>()
  const c1 = { clientId: 'c1' }
  const c2 = { clientId: 'c2' }
  tree.add(sub(c1, 'a/b'), 'a/b')
  const first = tree.match('a/b')
  t.equal(tree.match('a/b'), first, 'a repeated match is served from the cache')

  tree.add(sub(c2, 'a/+'), 'a/+')
  t.same(filtersOf(tree, 'a/b'), ['a/+', 'a/b'], 'a new subscription is seen')
  tree.add(sub(c2, '$share/g/#'), '#', 'g')
  t.same(tree.match('a/b').groups.map((g) => g.name), ['g'], 'a new shared group is seen')

  const before = tree.match('a/b')
  t.equal(tree.remove(c1, 'x/y'), false)
  t.equal(tree.match('a/b'), before, 'a remove that changed nothing keeps the cache')

  t.equal(tree.remove(c2, 'a/+'), true)
  t.same(filtersOf(tree, 'a/b'), ['a/b'], 'a removed subscription is gone')
  t.equal(tree.remove(c2, '#', 'g'), true)
  t.same(tree.match('a/b').groups, [], 'a removed group is gone')
})

t.test('the cache is bounded', async (t) => {
  const tree = new TopicTree<Client>()
  tree.add(sub({ clientId: 'c' }, '#'), '#')
  const first = tree.match('t/0')
  for (let i = 1; i <= 10_000; i++) tree.match(`t/${i}`)
  const again = tree.match('t/0')
  t.not(again, first, 'the oldest entries were let go')
  t.same(again.subscriptions.map((s) => s.filter), ['#'])
})

t.test('overlapping subscriptions of one client are all returned', async (t) => {
  const tree = new TopicTree<Client>()
  const c = { clientId: 'c' }
  tree.add(sub(c, 'a/#', 0), 'a/#')
  tree.add(sub(c, 'a/+', 1), 'a/+')
  tree.add(sub(c, 'a/b', 2), 'a/b')
  tree.add(sub(c, '$share/g/a/b', 1), 'a/b', 'g')
  const m = tree.match('a/b')
  t.same(m.subscriptions.map((s) => [s.filter, s.qos]).sort(), [['a/#', 0], ['a/+', 1], ['a/b', 2]],
    'one per filter; choosing one copy is the router\'s job')
  t.equal(m.groups.length, 1)

  tree.add(sub(c, 'a/b', 0), 'a/b')
  t.equal(tree.size, 4, 'subscribing to the same filter again replaces')
  t.same(tree.match('a/b').subscriptions.find((s) => s.filter === 'a/b')?.qos, 0)
})
