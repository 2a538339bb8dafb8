// A data store that cannot write (here: the broker process's file size limit, as a full disk would do):
// the failure is logged (and counted: culex_store_errors_total), the writes' publishers are told, and the broker goes on serving.
// lmdb-js once also rejected a promise of its own on a failed commit, which ended the process (issue 15, item 1).
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { collect, connectClient, delay, end, freePort, tcpOnlyHocon } from '../helpers.js'
import { spawnOwned } from '../processes.js'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

t.test('a write the disk refuses is logged; the broker keeps serving', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'culex-store-failure-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const port = await freePort()
  const file = join(dir, 'culex.hocon')
  await writeFile(file, tcpOnlyHocon(join(dir, 'data'), port))
  // 2 MiB of files at most: the store's first commits fit, the retained messages below do not.
  const broker = spawnOwned(t, 'bash', ['-c', `ulimit -f 4096 && exec "${process.execPath}" --import=tsx src/broker.ts -c "${file}"`],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  for (const stream of [broker.stdout!, broker.stderr!]) stream.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
  let exited = false
  broker.once('exit', () => { exited = true })
  const deadline = Date.now() + 10_000
  let pub
  for (;;) {
    try { pub = await connectClient(port, { clientId: 'filler', connectTimeout: 500 }); break } catch (err) {
      if (Date.now() > deadline || exited) throw new Error(`broker did not start: ${(err as Error).message} ${output}`)
      await delay(100)
    }
  }
  const payload = Buffer.alloc(256 * 1024, 7)
  let refused = false
  pub.on('close', () => { refused = true })
  for (let i = 0; i < 64 && !refused; i++) pub.publish(`fill/${i}`, payload, { qos: 1, retain: true })
  // Normally within a second. Up to twice the journal's stall time when lmdb-js leaves the writes waiting
  // instead of failing them (seen once in CI): the journal then fails them itself (journal-stall.test.ts).
  const until = Date.now() + 30_000
  while (!refused && Date.now() < until) await delay(50)
  t.ok(refused, 'the publisher was disconnected: its messages could not be stored')
  await delay(500) // another process: that it does not crash can only be seen over time
  t.notOk(exited, 'the broker process is still running')
  t.match(output, /data store failed saving a retained message/, 'the failure was logged with what failed')

  const sub = await connectClient(port, { clientId: 'after-sub' })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('after/x', { qos: 0 })
  const other = await connectClient(port, { clientId: 'after-pub' })
  t.teardown(() => end(other, true))
  other.publish('after/x', 'alive', { qos: 0 })
  await got.waitFor(1)
  t.equal(got.messages[0]!.payload.toString(), 'alive', 'the broker still routes messages')
})
