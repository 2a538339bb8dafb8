// WriteBatch: what is written while a read is handled is flushed once, when the outermost read ends; a
// flush that starts another read (an in-memory stream) gathers that read's writes in a list of its own.
import t from 'tap'
import { WriteBatch } from '../../src/mqtt/write-batch.js'

t.test('flushes each connection queued, once, at the outermost end', async (t) => {
  const batch = new WriteBatch()
  const flushed: string[] = []
  const conn = (name: string) => ({ flush: () => { flushed.push(name) } })
  t.equal(batch.open, false, 'closed before a read')
  batch.begin()
  t.equal(batch.open, true, 'open during a read')
  batch.add(conn('a'))
  batch.begin()
  batch.add(conn('b'))
  batch.end()
  t.same(flushed, [], 'an inner end flushes nothing')
  batch.end()
  t.same(flushed, ['a', 'b'], 'the outer end flushes in the order written')
  t.equal(batch.open, false, 'closed after the read')
  batch.begin()
  batch.end()
  t.same(flushed, ['a', 'b'], 'nothing queued, nothing flushed again')
})

t.test('a read started by a flush gathers its own writes', async (t) => {
  const batch = new WriteBatch()
  const flushed: string[] = []
  const inner = { flush: () => { flushed.push('inner') } }
  const outer = {
    flush: () => {
      flushed.push('outer')
      batch.begin()
      batch.add(inner)
      batch.end()
    },
  }
  batch.begin()
  batch.add(outer)
  batch.end()
  t.same(flushed, ['outer', 'inner'], 'the nested read flushed what it queued')
  t.equal(batch.open, false)
})
