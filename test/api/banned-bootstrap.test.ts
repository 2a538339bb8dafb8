// banned.bootstrap_file: EMQX 5.8's CSV of bans imported at start, listed by /api/v5/banned and refusing
// CONNECT with 0x8A; rows that are no ban are skipped with a warning naming their line; an unreadable file
// or a header without as and who stops start-up.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { CulexError } from '../../src/errors.js'
import { rawConnect, startBroker } from '../helpers.js'
import { ADMIN, startApiBroker } from './api-helpers.js'

async function connack (port: number, clientId: string, username?: string): Promise<number | undefined> {
  const { raw, connack } = await rawConnect(port, 5, { clientId, ...(username ? { username } : {}) })
  raw.socket.destroy()
  return connack.reasonCode
}

const CSV = [
  'as,who,reason,at,until,by',
  'clientid,bad-id,"flooding, twice",2024-01-01T00:00:00Z,infinity,ops',
  'username_re,^evil,,,2099-01-01T00:00:00+00:00,',
  'peerhost_net,10.0.0.0/8,,,,',
  'nobody,x,,,,',
  'clientid,old-id,,,2001-01-01T00:00:00Z,',
  '',
].join('\r\n')

t.test('the CSV is imported at start: listed, enforced, bad rows skipped with their line', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'banned.csv')
  await writeFile(file, CSV)
  const b = await startApiBroker(t, { keys: [ADMIN], config: { banned: { bootstrap_file: file } } })
  const list = (await b.call('/api/v5/banned')).json.data as { as: string, who: string, reason: string, by: string, at: string, until: string }[]
  t.same(list.map((x) => `${x.as}:${x.who}`).sort(), ['clientid:bad-id', 'peerhost_net:10.0.0.0/8', 'username_re:^evil'])
  t.match(list.find((x) => x.who === 'bad-id'), { reason: 'flooding, twice', by: 'ops', at: '2024-01-01T00:00:00+00:00', until: 'infinity' })
  t.match(list.find((x) => x.who === '^evil'), { by: 'mgmt_api', until: '2099-01-01T00:00:00+00:00' }, 'EMQX\'s defaults for by')
  t.equal(list.find((x) => x.as === 'peerhost_net')?.until, 'infinity', 'no until: for ever, as EMQX\'s import')

  t.equal(await connack(b.tcpPort, 'bad-id'), 0x8a, 'the banned client id is refused')
  t.equal(await connack(b.tcpPort, 'c1', 'evil-user'), 0x8a, 'a user name the pattern matches is refused')
  t.equal(await connack(b.tcpPort, 'old-id'), 0, 'the expired row was skipped')
  const skipped = b.logs.filter((l) => l.level === 40 && String(l.msg).includes('row skipped'))
  t.same(skipped.map((l) => l.line), [5, 6], 'the skipped rows are logged with their line')
  t.match(skipped[0]!.msg, /banned\.csv:5: row skipped: as "nobody" is not one of/)
  t.match(b.logs.find((l) => l.imported !== undefined), { imported: 3, skipped: 2 })
})

t.test('a missing file or a header without as and who stops start-up', async (t) => {
  const dir = t.testdir({ 'bad.csv': 'clientid,bad-id\n' })
  for (const [file, why] of [[join(dir, 'absent.csv'), /absent\.csv: ENOENT/], [join(dir, 'bad.csv'), /first line must name the columns/]] as const) {
    const err = await startBroker({ banned: { bootstrap_file: file } }).then((b) => b.close(), (e: unknown) => e)
    t.ok(err instanceof CulexError, 'refused')
    t.match(err, { code: 'CULEX_ERR_BANNED_FILE', message: why })
  }
})
