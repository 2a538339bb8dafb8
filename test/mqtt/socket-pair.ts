// A plain TCP server and one client connected to it, for the tests of src/mqtt/socket-reads.ts and socket-writes.ts.
import { once } from 'node:events'
import net, { type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** The accepted socket (handed to `onAccept` first, as the server accepts it) and the client. Both closed at teardown. */
export async function plainPair (t: { teardown: (fn: () => unknown) => void }, onAccept = (_socket: Socket): void => {}): Promise<{ server: Socket, client: Socket }> {
  const accepted: Socket[] = []
  const srv = net.createServer((socket) => {
    onAccept(socket)
    accepted.push(socket)
  })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  t.teardown(() => srv.close())
  const client = net.connect((srv.address() as { port: number }).port, '127.0.0.1')
  t.teardown(() => client.destroy())
  await once(client, 'connect')
  while (accepted.length === 0) await sleep(5)
  t.teardown(() => accepted[0]!.destroy())
  return { server: accepted[0]!, client }
}
