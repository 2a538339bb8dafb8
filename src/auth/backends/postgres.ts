// A PostgreSQL backend (EMQX's emqx_postgresql): a pg Pool of pool_size connections, and queries written
// as EMQX writes them, `SELECT ... WHERE username = ${username} LIMIT 1`. Each ${...} becomes a bound
// parameter ($1, $2, ... in order of appearance, as EMQX's prepared statements): the value travels apart
// from the SQL text and is never parsed as SQL. Queries are named prepared statements unless
// disable_prepared_statements.
import { createHash } from 'node:crypto'
import type pg from 'pg'
import { parseServer, POSTGRES_PORT, type PostgresConnectionConfig } from '../../config/schema/backends.js'
import type { Log } from '../../log.js'
import { BackendError, BackendHealth, describeNetworkError } from './health.js'
import { AUTHN_PLACEHOLDERS, compileTemplate, render, type Lookup, type Template } from './placeholders.js'
import { clientTlsOptions } from './tls.js'

/** How long one query may take, waiting for a connection included. */
export const QUERY_TIMEOUT_MS = 5000
const CONNECT_TIMEOUT_MS = 5000

export interface PreparedQuery {
  /** The SQL with $1..$n in place of the placeholders. */
  readonly text: string
  /** The template of each parameter, $1 first. */
  readonly params: readonly Template[]
  /** The statement name (a digest of the text), so that every connection prepares it once. */
  readonly name: string
  /** Placeholders this backend does not allow, left as they were written. */
  readonly disallowed: readonly string[]
}

// A placeholder, possibly wrapped in quotes as some EMQX examples write it ('${username}'): the quotes go with it.
const PLACEHOLDER = /'\$\{([^{}']*)\}'|"\$\{([^{}"]*)\}"|\$\{([^{}]*)\}/g

/** Turns ${...} placeholders into $n parameters. */
export function prepareQuery (sql: string, allowed: readonly string[] = AUTHN_PLACEHOLDERS): PreparedQuery {
  const params: Template[] = []
  const disallowed: string[] = []
  const text = sql.replace(PLACEHOLDER, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c ?? '').trim()
    const template = compileTemplate(`\${${name}}`, allowed)
    if (template.disallowed.length > 0) {
      disallowed.push(name)
      return whole
    }
    params.push(template)
    return `$${params.length}`
  })
  return { text, params, name: `culex_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, disallowed }
}

export class PostgresBackend {
  readonly health: BackendHealth
  /** pg is loaded with the first PostgreSQL backend, not with every broker. */
  readonly #pool: Promise<pg.Pool>
  readonly #where: string
  readonly #prepared: boolean

  constructor (config: PostgresConnectionConfig, log: Log, where: string) {
    const { host, port } = parseServer(config.server, POSTGRES_PORT)!
    this.#where = `postgresql ${config.server}/${config.database}`
    this.#prepared = !config.disable_prepared_statements
    this.health = new BackendHealth(log, { backend: where, server: config.server, database: config.database })
    const options: pg.PoolConfig = {
      host,
      port,
      database: config.database,
      user: config.username,
      max: config.pool_size,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      application_name: 'culex',
    }
    if (config.password !== undefined) options.password = config.password
    if (config.ssl.enable) options.ssl = clientTlsOptions(config.ssl, host, `${where}.ssl`)
    this.#pool = import('pg').then(({ default: { Pool } }) => {
      const pool = new Pool(options)
      // An idle connection that dies (server restart) is dropped by the pool; the next query makes a new one.
      pool.on('error', (err) => this.health.failed(describeNetworkError(err, this.#where)))
      return pool
    })
  }

  /** Runs a prepared query with its parameters rendered for one client: the rows, as column → value. */
  async query (query: PreparedQuery, lookup: Lookup): Promise<Record<string, unknown>[]> {
    const values = query.params.map((t) => render(t, lookup))
    try {
      const result = await (await this.#pool).query(this.#prepared ? { name: query.name, text: query.text, values } : { text: query.text, values })
      this.health.ok()
      return result.rows as Record<string, unknown>[]
    } catch (err) {
      const e = err as Error & { code?: string, severity?: string }
      let reason: string
      if (/timeout/i.test(e.message)) reason = `${this.#where} did not answer within ${QUERY_TIMEOUT_MS} ms`
      else if (e.severity) reason = `${this.#where} refused the query (${e.code ?? ''} ${e.message})`
      else reason = describeNetworkError(err, this.#where)
      this.health.failed(reason)
      throw new BackendError(reason, { cause: err })
    }
  }

  async close (): Promise<void> {
    await (await this.#pool).end().catch(() => {})
  }
}
