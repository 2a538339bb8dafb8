// A throwaway PostgreSQL server for the backend tests: initdb into a temporary directory, the server on a
// free loopback port (its socket in that directory too), a password-protected user, killed and removed at
// teardown. PostgreSQL refuses to run as root: as root (CI), initdb and the server run as the `postgres`
// user (runuser), with the directory given to it. The binaries are found under /usr/lib/postgresql/<version>/bin.
import { execFile, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { delay, freePort } from './helpers.js'
import { killGroup, spawnOwned } from './processes.js'

interface Teardown { teardown: (fn: () => unknown) => void }

const run = promisify(execFile)

/** The bin directory of the newest PostgreSQL installed, or undefined. */
function findBinDir (): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin')
}

export const PG_BIN = findBinDir()
export const hasPostgres = PG_BIN !== undefined

const asRoot = process.getuid?.() === 0

export interface TestPostgres {
  host: string
  port: number
  /** `127.0.0.1:port`, as an EMQX `server` key. */
  server: string
  user: string
  password: string
  database: string
  /** Runs SQL as the test user (setup, planting rows). */
  sql (text: string, values?: unknown[]): Promise<pg.QueryResult>
  /** Stops the server (fast shutdown: clients are disconnected at once); start() brings it back on the same port and data. */
  stop (): Promise<void>
  start (): Promise<void>
}

/** The command line, run as the postgres user when this process is root. */
function command (bin: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args]
}

/**
 * Starts PostgreSQL with user `culex` (password `culex-pw`) and database `mqtt`, and a table
 * mqtt_user(id, username, password_hash, salt, is_superuser) as EMQX's documentation creates it.
 */
export async function startPostgres (t: Teardown): Promise<TestPostgres> {
  if (!PG_BIN) throw new Error('PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)')
  const dir = await mkdtemp(join(tmpdir(), 'culex-pg-'))
  const data = join(dir, 'data')
  const user = 'culex'
  const password = 'culex-pw'
  const pwfile = join(dir, 'pw')
  await writeFile(pwfile, `${password}\n`)
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    await chown(dir, Number(stdout.trim()), Number(gid.trim()))
    await chown(pwfile, Number(stdout.trim()), Number(gid.trim()))
  }
  const [initdb, initArgs] = command(join(PG_BIN, 'initdb'), ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'])
  await run(initdb, initArgs, { timeout: 60_000 })
  const port = await freePort()
  let child: ChildProcess | undefined

  const start = async () => {
    const [postgres, args] = command(join(PG_BIN, 'postgres'), ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'max_connections=50'])
    const started = spawnOwned(t, postgres, args, { stdio: 'ignore' })
    child = started
    const deadline = Date.now() + 30_000
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) throw new Error(`postgres exited with ${started.exitCode} before accepting connections`)
      const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres', connectionTimeoutMillis: 1000 })
      try {
        await client.connect()
        await client.end()
        return
      } catch {
        await client.end().catch(() => {})
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections on port ${port}`)
        await delay(100)
      }
    }
  }
  const stop = async () => {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
    // SIGINT is PostgreSQL's fast shutdown: sessions end at once, and the data directory can be started again.
    killGroup(c, 'SIGINT')
    const timer = setTimeout(() => killGroup(c), 10_000)
    await exited
    clearTimeout(timer)
  }
  // One teardown, in order: the server stopped, then its directory removed.
  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })
  try {
    await start()
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }

  const admin = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres' })
  await admin.connect()
  await admin.query('CREATE DATABASE mqtt')
  await admin.end()
  const sql = async (text: string, values: unknown[] = []) => {
    const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'mqtt' })
    await client.connect()
    try {
      return await client.query(text, values)
    } finally {
      await client.end()
    }
  }
  await sql(`CREATE TABLE mqtt_user (
    id SERIAL PRIMARY KEY,
    username CHARACTER VARYING(100),
    password_hash CHARACTER VARYING(100),
    salt CHARACTER VARYING(40),
    is_superuser BOOLEAN,
    UNIQUE (username)
  )`)
  return { host: '127.0.0.1', port, server: `127.0.0.1:${port}`, user, password, database: 'mqtt', sql, stop, start }
}
