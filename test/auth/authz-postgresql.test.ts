// authorization source type = postgresql against a real PostgreSQL server: rows of permission, action, topic
// (qos, retain) in order, placeholders sent as bound parameters (a hostile user name is data, never SQL), a
// row that cannot be read skipped, and the server stopped: the source is ignored (next source or no_match),
// logged and counted, and used again once the server is back.
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { connectOwned, startBroker, until } from '../helpers.js'
import { hasPostgres, startPostgres } from '../postgres.js'

function publish (c: MqttClient, topic: string, qos: 0 | 1 | 2 = 1): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

if (!hasPostgres) {
  t.plan(0, 'PostgreSQL not installed')
} else {
  t.test('rows decide in order; placeholders are bound parameters; the server stopped is ignored', async (t) => {
    const pg = await startPostgres(t)
    await pg.sql(`CREATE TABLE mqtt_acl (
      id SERIAL PRIMARY KEY, username VARCHAR(100), clientid VARCHAR(100),
      permission VARCHAR(5), action VARCHAR(9), topic VARCHAR(100), qos TEXT, retain SMALLINT
    )`)
    const rows: [string, string, string, string, string | null, number | null][] = [
      ['alice', 'deny', 'publish', 'data/secret', null, null],
      ['alice', 'allow', 'all', 'data/#', null, null],
      ['alice', 'allow', 'publish', 'q/${clientid}', '1', 0],
      ['alice', 'allow', 'shout', 'bad/#', null, null],
      ['x\'; DROP TABLE mqtt_acl; --', 'allow', 'all', '#', null, null],
    ]
    for (const row of rows) await pg.sql('INSERT INTO mqtt_acl (username, permission, action, topic, qos, retain) VALUES ($1, $2, $3, $4, $5, $6)', row)
    const b = await startBroker({
      authorization: {
        no_match: 'deny',
        cache: { enable: false },
        sources: [
          {
            type: 'postgresql', server: pg.server, database: pg.database, username: pg.user, password: pg.password,
            query: 'SELECT permission, action, topic, qos, retain FROM mqtt_acl WHERE username = ${username} ORDER BY id',
          },
          { type: 'file', rules: '{allow, all, publish, ["fallback/#"]}.' },
        ],
      },
    })
    t.teardown(() => b.close())
    const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'c1', username: 'alice' })
    t.equal(await publish(c, 'data/secret'), 0x87, 'the first matching row denies')
    t.equal(await publish(c, 'data/open'), 0, 'the next allows')
    t.equal(await publish(c, 'q/c1', 1), 0, 'qos column "1", placeholder in the topic')
    t.equal(await publish(c, 'q/c1', 2), 0x87, 'another qos')
    t.equal(await publish(c, 'bad/1'), 0x87, 'a row with an unknown action is skipped')
    t.ok(b.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('a rule from the backend is skipped')), 'and logged')
    t.equal(await publish(c, 'fallback/1'), 0, 'what the rows do not cover falls to the next source')

    const evil = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'c2', username: 'x\' OR \'1\'=\'1' })
    t.equal(await publish(evil, 'data/open'), 0x87, 'a user name holding SQL matches no row')
    const dropper = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'c3', username: 'x\'; DROP TABLE mqtt_acl; --' })
    t.equal(await publish(dropper, 'anything'), 0, 'it is compared as a value: its own row allows')
    t.equal((await pg.sql('SELECT count(*)::int AS n FROM mqtt_acl')).rows[0].n, rows.length, 'the table is intact')

    await pg.stop()
    t.equal(await publish(c, 'fallback/2'), 0, 'server stopped: ignored, the file allows')
    t.equal(await publish(c, 'data/open'), 0x87, 'and no_match denies what the rows allowed')
    t.ok(b.logs.some((l) => l.msg === `backend request failed: ${String(l.reason)}` && l.level === 40), 'the backend logs why')
    t.ok((b.broker.authz.counts.get('postgresql')?.error ?? 0) >= 2, 'counted as errors')
    await pg.start()
    await until(async () => (await publish(c, 'data/open')) === 0, 'the rows to decide again')
    t.pass('the server back: its rows decide again')
    // Stopped here, cleanly: test/postgres.ts's stop() at teardown waits for an exit that a SIGKILL of the
    // restarted server (spawnOwned's teardown, which runs first) has already reported.
    await b.close()
    await pg.stop()
  })
}
