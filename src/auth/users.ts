// The built-in user database of one password authenticator: a map kept in memory and written whole to
// node.data_dir/authn/<id>.json (atomically, mode 0600) after each change; EMQX's bootstrap file
// (CSV or JSON, plain passwords or hashes) is imported when the store is empty.
import { mkdirSync, readFileSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { dirname, extname } from 'node:path'
import { CulexError } from '../errors.js'

/** One user as EMQX stores it. */
export interface UserRecord {
  user_id: string
  password_hash: string
  salt: string
  is_superuser: boolean
}

/** A bootstrap entry before hashing: plain files give `password`, hash files `password_hash` and `salt`. */
export interface BootstrapUser {
  user_id: string
  password?: string
  password_hash?: string
  salt?: string
  is_superuser: boolean
}

/** Users of one authenticator, by id, persisted as `{ "users": [...] }`. */
export class UserStore<T extends { user_id: string } = UserRecord> {
  readonly file: string
  readonly #users = new Map<string, T>()
  #writing: Promise<void> = Promise.resolve()

  constructor (file: string) {
    this.file = file
  }

  get size (): number { return this.#users.size }

  /** Reads the file if it exists; a corrupt file stops start-up rather than losing users. */
  load (): this {
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this
      throw new CulexError('CULEX_ERR_CONFIG_FILE', `authentication users ${this.file}: ${(err as Error).message}`, { cause: err })
    }
    let users: unknown
    try {
      users = (JSON.parse(text) as { users?: unknown }).users
    } catch (err) {
      throw new CulexError('CULEX_ERR_CONFIG_FILE', `authentication users ${this.file}: not JSON (${(err as Error).message})`, { cause: err })
    }
    if (!Array.isArray(users)) throw new CulexError('CULEX_ERR_CONFIG_FILE', `authentication users ${this.file}: expected { "users": [...] }`)
    for (const u of users as T[]) this.#users.set(u.user_id, u)
    return this
  }

  get (userId: string): T | undefined {
    return this.#users.get(userId)
  }

  /** Users sorted by id. */
  list (): T[] {
    return [...this.#users.values()].sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0))
  }

  /** Adds or replaces a user in memory only; `save` writes. */
  set (user: T): void {
    this.#users.set(user.user_id, user)
  }

  async put (user: T): Promise<void> {
    this.set(user)
    await this.save()
  }

  async delete (userId: string): Promise<boolean> {
    if (!this.#users.delete(userId)) return false
    await this.save()
    return true
  }

  /** Resolves once every write started so far has finished. */
  flushed (): Promise<void> {
    // Only waits: a failed write was reported to the caller of the save() that started it.
    return this.#writing.catch(() => undefined)
  }

  /** Writes the whole store: to a temporary file, then renamed over the old one. Writes run one at a time. */
  save (): Promise<void> {
    const text = JSON.stringify({ users: this.list() }, null, 1)
    const write = async () => {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 })
      const tmp = `${this.file}.${process.pid}.tmp`
      await writeFile(tmp, text, { mode: 0o600 })
      await rename(tmp, this.file)
    }
    this.#writing = this.#writing.then(write, write)
    return this.#writing
  }
}

const truthy = (v: unknown): boolean => v === true || v === 'true'

/** Parses a bootstrap file (EMQX: `.csv` with a header line, or `.json`, an array of objects). */
export function parseBootstrap (file: string, text: string, type: 'plain' | 'hash'): BootstrapUser[] {
  const fail = (why: string) => new CulexError('CULEX_ERR_CONFIG_INVALID', `authentication bootstrap_file ${file}: ${why}`)
  let rows: Record<string, unknown>[]
  const ext = extname(file).toLowerCase()
  if (ext === '.json') {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw fail(`not JSON (${(err as Error).message})`)
    }
    if (!Array.isArray(parsed)) throw fail('expected a JSON array of users')
    rows = parsed as Record<string, unknown>[]
  } else if (ext === '.csv') {
    rows = parseCsv(text)
  } else {
    throw fail('expected a .csv or .json file')
  }
  return rows.map((row, i) => {
    const where = ext === '.csv' ? `line ${i + 2}` : `entry ${i + 1}`
    if (typeof row?.user_id !== 'string' || row.user_id === '') throw fail(`${where}: no user_id`)
    const field = (name: string) => (typeof row[name] === 'string' && row[name] !== '' ? row[name] : undefined)
    const user: BootstrapUser = { user_id: row.user_id, is_superuser: truthy(row.is_superuser) }
    if (type === 'plain') {
      user.password = field('password')
      if (user.password === undefined) throw fail(`${where}: bootstrap_type = plain needs a password`)
    } else {
      user.password_hash = field('password_hash')
      user.salt = field('salt') ?? ''
      if (user.password_hash === undefined) throw fail(`${where}: bootstrap_type = hash needs a password_hash`)
    }
    return user
  })
}

/** Comma-separated values with a header line; fields may be double-quoted. Blank lines are skipped. */
function parseCsv (text: string): Record<string, string>[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '')
  if (lines.length === 0) return []
  const header = splitCsvLine(lines[0]!).map((h) => h.trim())
  return lines.slice(1).map((line) => {
    const cells = splitCsvLine(line)
    return Object.fromEntries(header.map((h, i) => [h, (cells[i] ?? '').trim()]))
  })
}

function splitCsvLine (line: string): string[] {
  const cells: string[] = []
  let cell = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cell += '"'; i++ } else if (c === '"') quoted = false
      else cell += c
    } else if (c === '"') quoted = true
    else if (c === ',') { cells.push(cell); cell = '' } else cell += c
  }
  cells.push(cell)
  return cells
}
