// banned.bootstrap_file: EMQX 5.8's CSV of bans. A header row names the columns (as, who, reason, by, at,
// until; as and who are required, the others may be absent or empty); each further row is a ban.
// at and until are RFC 3339 dates or epoch seconds; until may be `infinity`, which is also the default
// (by defaults to mgmt_api and at to now, as EMQX's import does). A row that cannot be a ban is skipped and
// reported, as EMQX skips it with a warning; a file without as and who in its header is refused.
import { readFile } from 'node:fs/promises'
import { CulexError } from '../errors.js'
import { BAN_KINDS, banTargetError, type Ban, type BanKind } from './banned.js'

export interface BanCsv {
  bans: Ban[]
  /** Rows skipped, with their line number and why. */
  skipped: { line: number, why: string }[]
}

const COLUMNS = new Set(['as', 'who', 'reason', 'by', 'at', 'until'])

/** Reads and parses the file; an unreadable file or a bad header is CULEX_ERR_BANNED_FILE. */
export async function loadBanCsv (file: string, now = Date.now()): Promise<BanCsv> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new CulexError('CULEX_ERR_BANNED_FILE', `banned.bootstrap_file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  return parseBanCsv(text, file, now)
}

export function parseBanCsv (text: string, file: string, now = Date.now()): BanCsv {
  const rows = csvRows(text.replace(/^\uFEFF/, ''))
  const header = rows.shift()
  const names = header?.cells.map((c) => c.trim().toLowerCase()) ?? []
  if (!names.includes('as') || !names.includes('who')) {
    throw new CulexError('CULEX_ERR_BANNED_FILE', `banned.bootstrap_file ${file}: the first line must name the columns, at least as and who (e.g. as,who,reason,at,until)`)
  }
  const unknown = names.filter((n) => n !== '' && !COLUMNS.has(n))
  if (unknown.length > 0) {
    throw new CulexError('CULEX_ERR_BANNED_FILE', `banned.bootstrap_file ${file}:${header!.line}: unknown column ${unknown.join(', ')}; the columns are as, who, reason, by, at, until`)
  }
  const result: BanCsv = { bans: [], skipped: [] }
  for (const row of rows) {
    if (row.cells.every((c) => c.trim() === '')) continue
    const fields: Record<string, string> = {}
    names.forEach((name, i) => {
      const value = row.cells[i]
      if (value !== undefined && value !== '') fields[name] = value
    })
    try {
      result.bans.push(toBan(fields, now))
    } catch (err) {
      result.skipped.push({ line: row.line, why: (err as Error).message })
    }
  }
  return result
}

function toBan (f: Record<string, string>, now: number): Ban {
  const as = f.as as BanKind | undefined
  if (as === undefined || !BAN_KINDS.includes(as)) throw new Error(`as ${JSON.stringify(f.as ?? '')} is not one of ${BAN_KINDS.join(', ')}`)
  const who = f.who ?? ''
  const targetError = banTargetError(as, who)
  if (targetError) throw new Error(`who: ${targetError}`)
  const at = f.at === undefined ? now : time('at', f.at)
  const until = f.until === undefined || f.until === 'infinity' ? Number.POSITIVE_INFINITY : time('until', f.until)
  if (until <= now) throw new Error(`until ${f.until}: the ban has already ended`)
  return { as, who, by: f.by ?? 'mgmt_api', reason: f.reason ?? '', at, until }
}

function time (field: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value)
  if (!Number.isFinite(ms)) throw new Error(`${field} ${JSON.stringify(value)}: expected an RFC 3339 date such as 2030-01-01T00:00:00Z or epoch seconds`)
  return ms
}

interface Row { line: number, cells: string[] }

/** RFC 4180: fields separated by commas, optionally in double quotes (which may hold commas, newlines and "" for a quote). */
function csvRows (text: string): Row[] {
  const rows: Row[] = []
  let cells: string[] = []
  let cell = ''
  let quoted = false
  let wasQuoted = false
  const end = () => { cells.push(wasQuoted ? cell : cell.trim()); cell = ''; wasQuoted = false }
  let line = 1
  let rowLine = 1
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++ } else if (c === '"') quoted = false
      else { if (c === '\n') line++; cell += c }
      continue
    }
    if (c === '"' && !wasQuoted && cell.trim() === '') { cell = ''; quoted = true; wasQuoted = true } else if (c === ',') end()
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++
      end()
      rows.push({ line: rowLine, cells })
      cells = []
      line++
      rowLine = line
    } else if (!wasQuoted) cell += c
  }
  if (cell !== '' || cells.length > 0) {
    end()
    rows.push({ line: rowLine, cells })
  }
  return rows
}
