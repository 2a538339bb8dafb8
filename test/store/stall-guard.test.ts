// The guard against a data store that stops confirming writes without failing them (src/store/stall-guard.ts).
import t from 'tap'
import { StallGuard } from '../../src/store/stall-guard.js'

const never = (): Promise<void> => new Promise<void>(() => {})
const settledIn = (ms: number, fail = false): Promise<void> =>
  new Promise<void>((resolve, reject) => setTimeout(() => fail ? reject(new Error('disk full')) : resolve(), ms))
const outcome = (p: Promise<void>): Promise<string> => p.then(() => 'ok', (err: Error) => err.message)

// The guard's timer does not keep a process alive (the broker's sockets do); here, this one does.
const alive = setInterval(() => {}, 1000)
t.teardown(() => clearInterval(alive))

t.test('writes that settle pass through the guard as they settled', async (t) => {
  const guard = new StallGuard(50)
  t.same(await Promise.all([outcome(guard.track(settledIn(5))), outcome(guard.track(settledIn(10, true)))]), ['ok', 'disk full'])
})

t.test('writes that wait while none is confirmed for stallMs are failed, in the order they were issued', async (t) => {
  const guard = new StallGuard(50)
  const order: string[] = []
  const started = Date.now()
  const first = guard.track(never()).catch((err: Error) => { order.push('first'); return err })
  const second = guard.track(never()).catch((err: Error) => { order.push('second'); return err })
  const [err] = await Promise.all([first, second])
  t.ok(Date.now() - started >= 45, 'not before stallMs')
  t.match(err, { code: 'CULEX_ERR_STORE', message: /no write was confirmed for 0.05 s/ }, 'failed with a store error that says why')
  t.same(order, ['first', 'second'], 'in the order they were issued')
  t.equal(await outcome(guard.track(settledIn(5))), 'ok', 'a later write that settles still passes')
})

t.test('a slow write is not failed while others are confirmed', async (t) => {
  const guard = new StallGuard(40)
  const slow = outcome(guard.track(settledIn(150)))
  // One write confirmed every 20 ms: the store is making progress, so the slow one waits.
  for (let i = 0; i < 7; i++) await guard.track(settledIn(20))
  t.equal(await slow, 'ok')
})
