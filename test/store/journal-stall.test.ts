// A data store that stops confirming writes: lmdb-js, when its writer thread cannot begin a transaction, leaves
// the writes it queued waiting for ever (seen once in CI, as an EIO on stderr and a publisher never answered).
// That cannot be brought about on demand, so the real LMDB store is wrapped here and one table's writes are held
// back from it, as lmdb-js holds them: the journal must report the stall and fail what waited on them.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { Message } from '../../src/mqtt/message.js'
import { SessionJournal } from '../../src/mqtt/store/journal.js'
import { openKvStore, type KvStore, type KvTable } from '../../src/store/kv.js'
import { delay } from '../helpers.js'

const STALL_MS = 300

interface Held { held: boolean }

/** The LMDB store, with the writes to `table` never settling while `hold.held` (they are not passed on). */
function holding (store: KvStore, table: string, hold: Held): KvStore {
  return {
    backend: store.backend,
    close: () => store.close(),
    table<T> (name: string): KvTable<T> {
      const real = store.table<T>(name)
      if (name !== table) return real
      return {
        get size () { return real.size },
        get: (key) => real.get(key),
        entries: (prefix) => real.entries(prefix),
        put: (key, value) => hold.held ? new Promise<void>(() => {}) : real.put(key, value),
        remove: (key) => hold.held ? new Promise<void>(() => {}) : real.remove(key),
      }
    },
  }
}

async function openJournal (t: Test, hold: Held): Promise<{ journal: SessionJournal, errors: Array<{ err: Error, what: string }> }> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-journal-stall-'))
  const store = openKvStore('lmdb', dir)
  t.teardown(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })
  const errors: Array<{ err: Error, what: string }> = []
  const journal = new SessionJournal(holding(store, 'retained', hold), (err, what) => errors.push({ err, what }), STALL_MS)
  return { journal, errors }
}

const message = (topic: string): Message => ({ topic, payload: Buffer.from('x'), qos: 1, retain: true, properties: undefined, expiresAt: 0, origin: undefined })

t.test('writes the store never confirms: reported after the stall time, and their barrier fails', async (t) => {
  const { journal, errors } = await openJournal(t, { held: true })
  journal.retain(message('a/b'))
  const barrier = journal.barrier()
  t.ok(barrier, 'a write is in flight')
  const outcome = await Promise.race([barrier!.then(() => 'resolved', (err: Error) => err), delay(STALL_MS * 5).then(() => 'still waiting')])
  t.type(outcome, Error, 'the barrier failed')
  t.match((outcome as Error).message, /confirmed none of 1 writes/, 'with the reason')
  t.equal(errors.length, 1, 'reported once')
  t.equal(errors[0]!.what, 'saving a retained message', 'naming what the newest write was doing')
  const closed = await Promise.race([journal.close().then(() => 'closed'), delay(STALL_MS * 5).then(() => 'still closing')])
  t.equal(closed, 'closed', 'close() does not wait for the stalled writes for ever')
})

t.test('a store that confirms its writes is never reported, however long they keep coming', async (t) => {
  const { journal, errors } = await openJournal(t, { held: false })
  const until = Date.now() + STALL_MS * 4
  let writes = 0
  while (Date.now() < until) {
    journal.retain(message(`a/${writes++}`))
    await journal.barrier()
    await delay(20)
  }
  t.ok(writes > 20, `${writes} writes`)
  t.same(errors, [], 'no stall reported')
  await journal.close()
})

t.test('each barrier waits for the writes issued before it, and succeeds once they are durable', async (t) => {
  const { journal, errors } = await openJournal(t, { held: false })
  journal.retain(message('a/1'))
  const first = journal.barrier()
  journal.retain(message('a/2'))
  const second = journal.barrier()
  t.not(first, second, 'a barrier waits for the writes issued before it')
  await Promise.all([first, second])
  t.equal(journal.barrier(), undefined, 'nothing in flight afterwards')
  t.same(errors, [])
  await journal.close()
})
