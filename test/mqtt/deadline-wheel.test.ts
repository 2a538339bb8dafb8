// The core's deadline wheel: entries come due at the first step at or after their deadline, once.
import t from 'tap'
import { DeadlineWheel } from '../../src/mqtt/deadline-wheel.js'

const entry = (name: string) => ({ name, wheelStep: -1 })

t.test('entries come due at their step, not before, and can be filed again or removed', async (t) => {
  const wheel = new DeadlineWheel<ReturnType<typeof entry>>(500, 10_000)
  const a = entry('a')
  const b = entry('b')
  const c = entry('c')
  wheel.add(a, 10_600)
  wheel.add(b, 11_000)
  wheel.add(c, 11_000)
  const due: string[] = []
  const take = (e: ReturnType<typeof entry>) => { due.push(e.name) }
  wheel.advance(10_999, take)
  t.same(due, [], 'a is due at 11,000 (its step, 600 ms rounded up to the next 500)')
  wheel.remove(c)
  t.equal(c.wheelStep, -1)
  wheel.advance(11_000, take)
  t.same(due, ['a', 'b'], 'a and b at their step; c was removed')
  t.equal(a.wheelStep, -1, 'handed out: filed nowhere')
  wheel.add(a, 11_200)
  wheel.add(a, 13_000)
  wheel.advance(12_999, take)
  t.same(due, ['a', 'b'], 'filing again moves the entry')
  wheel.advance(13_000, take)
  t.same(due, ['a', 'b', 'a'])
})

t.test('a deadline already past comes due at the next step; Infinity never does', async (t) => {
  const wheel = new DeadlineWheel<ReturnType<typeof entry>>(500, 10_000)
  const late = entry('late')
  const never = entry('never')
  wheel.add(late, 1)
  wheel.add(never, Number.POSITIVE_INFINITY)
  const due: string[] = []
  wheel.advance(10_500, (e) => due.push(e.name))
  t.same(due, ['late'])
  wheel.advance(Number.MAX_SAFE_INTEGER, (e) => due.push(e.name))
  t.same(due, ['late'], 'a wheel far ahead (a long stall) skips empty steps and leaves Infinity alone')
  wheel.remove(never)
  t.equal(never.wheelStep, -1)
})

t.test('after a stall every due entry comes out in deadline order, and what due() files again waits', async (t) => {
  const wheel = new DeadlineWheel<ReturnType<typeof entry>>(500, 0)
  const names = ['x', 'y', 'z']
  names.forEach((n, i) => wheel.add(entry(n), 1000 * (3 - i)))
  const due: string[] = []
  wheel.advance(3_600_000, (e, now) => {
    due.push(e.name)
    if (e.name === 'z') wheel.add(e, now + 1000)
  })
  t.same(due, ['z', 'y', 'x'])
  wheel.advance(3_600_999, (e) => due.push(e.name))
  t.same(due, ['z', 'y', 'x'], 'z, filed again a second on, is not due yet')
  wheel.advance(3_601_000, (e) => due.push(e.name))
  t.same(due, ['z', 'y', 'x', 'z'])
})
