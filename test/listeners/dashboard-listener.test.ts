// dashboard.listeners.http: max_connections, inet6 and ipv6_v6only on the management API's listener.
import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { ADMIN, basic, startApiBroker, tempDir } from '../api/api-helpers.js'
import { rawSocket, startBroker, within } from '../helpers.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

t.test('max_connections: connections beyond it are closed at accept', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { dashboard: { listeners: { http: { bind: '127.0.0.1:0', max_connections: 2 } } } } })
  const port = b.broker.apiPort()
  const one = await rawSocket(port)
  const two = await rawSocket(port)
  const third = await rawSocket(port)
  t.ok(await within(3000, third.closed), 'the third connection is closed')
  t.equal(one.socket.destroyed || two.socket.destroyed, false, 'the first two stay open')
  one.socket.destroy()
  await one.closed
  // The server sees the close asynchronously: retry a fresh request until its slot is free (bounded).
  let status = 0
  const deadline = Date.now() + 3000
  while (status !== 200 && Date.now() < deadline) {
    status = await fetch(`${b.base}/api/v5/status`, { headers: { authorization: basic(ADMIN), connection: 'close' } }).then((r) => r.status, () => 0)
  }
  t.equal(status, 200, 'a freed slot serves a request')
  two.socket.destroy()
})

t.test('inet6 listens on :: for a bind without an address; ipv6_v6only refuses IPv4', async (t) => {
  const dir = await tempDir(t)
  const keys = join(dir, 'api_keys.txt')
  await writeFile(keys, `${ADMIN}\n`)
  const start = (v6only: boolean) => startBroker({
    node: { data_dir: dir },
    dashboard: { listeners: { http: { bind: 0, inet6: true, ipv6_v6only: v6only } } },
    api_key: { bootstrap_file: keys },
  })
  const dual = await start(false)
  t.teardown(() => dual.close())
  t.equal(dual.broker.api!.address().host, '::')
  const ok = await fetch(`http://[::1]:${dual.broker.apiPort()}/api/v5/status`, { headers: { authorization: basic(ADMIN) } })
  t.equal(ok.status, 200, 'reached over IPv6')
  const v4 = await fetch(`http://127.0.0.1:${dual.broker.apiPort()}/api/v5/status`, { headers: { authorization: basic(ADMIN) } })
  t.equal(v4.status, 200, 'and over IPv4 (dual stack)')
  await dual.close()

  const only = await start(true)
  t.teardown(() => only.close())
  const port = only.broker.apiPort()
  const v6 = await fetch(`http://[::1]:${port}/api/v5/status`, { headers: { authorization: basic(ADMIN) } })
  t.equal(v6.status, 200, 'IPv6 served')
  const socket = connect({ host: '127.0.0.1', port })
  const [err] = await once(socket, 'error') as [NodeJS.ErrnoException]
  t.equal(err.code, 'ECONNREFUSED', 'IPv4 refused with ipv6_v6only')
})
