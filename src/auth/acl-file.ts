// EMQX's acl.conf: Erlang terms, one rule per `{Permission, Who, Action, Topics}.`, first match decides.
// Errors name file, line and column like the HOCON parser's, and stop start-up.
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { CulexError } from '../errors.js'

/** An Erlang term with where it was written. */
type Term =
  | { kind: 'atom', value: string, line: number, column: number }
  | { kind: 'string', value: string, line: number, column: number }
  | { kind: 'int', value: number, line: number, column: number }
  | { kind: 'tuple', items: Term[], line: number, column: number }
  | { kind: 'list', items: Term[], line: number, column: number }

export type Who =
  | { type: 'all' }
  | { type: 'username' | 'clientid', match: string | RegExp }
  | { type: 'ipaddr', text: string, block: BlockList }
  | { type: 'and' | 'or', items: Who[] }

export type ActionType = 'publish' | 'subscribe' | 'all'

export interface AclAction { type: ActionType; qos?: number[]; retain?: boolean | 'all' }

/** A topic pattern: wildcards match as MQTT filters; eq only the literal text. Placeholders expand per client. */
export interface AclTopic { text: string; eq: boolean }

export interface AclRule {
  permission: 'allow' | 'deny'
  who: Who
  action: AclAction
  /** undefined: every topic (the `{allow, all}.` form). */
  topics: AclTopic[] | undefined
  /** `file:line`, for the log. */
  origin: string
}

export class AclParseError extends CulexError {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly reason: string

  constructor (file: string, line: number, column: number, reason: string) {
    super('CULEX_ERR_ACL_PARSE', `${file}:${line}:${column}: ${reason}`)
    this.file = file
    this.line = line
    this.column = column
    this.reason = reason
  }
}

/** Parses acl.conf text into rules; `file` names it in errors and rule origins. */
export function parseAclFile (text: string, file = 'acl.conf'): AclRule[] {
  return new TermReader(text, file).readAll().map((term) => compileRule(term, file))
}

// ---- terms ----

class TermReader {
  #pos = 0
  #line = 1
  #column = 1

  constructor (readonly text: string, readonly file: string) {}

  fail (reason: string, line = this.#line, column = this.#column): never {
    throw new AclParseError(this.file, line, column, reason)
  }

  readAll (): Term[] {
    const terms: Term[] = []
    for (;;) {
      this.#skip()
      if (this.#pos >= this.text.length) return terms
      terms.push(this.#term())
      this.#skip()
      if (this.text[this.#pos] !== '.') this.fail(this.#pos >= this.text.length ? 'expected "." after the rule, got the end of the file' : `expected "." after the rule, got ${JSON.stringify(this.text[this.#pos])}`)
      this.#advance()
    }
  }

  #advance (): string {
    const ch = this.text[this.#pos++]!
    if (ch === '\n') { this.#line++; this.#column = 1 } else this.#column++
    return ch
  }

  #skip (): void {
    while (this.#pos < this.text.length) {
      const ch = this.text[this.#pos]!
      if (ch === '%') while (this.#pos < this.text.length && this.text[this.#pos] !== '\n') this.#advance()
      else if (/\s/.test(ch)) this.#advance()
      else return
    }
  }

  #term (): Term {
    this.#skip()
    const line = this.#line
    const column = this.#column
    const ch = this.text[this.#pos]
    if (ch === undefined) this.fail('unexpected end of the file')
    if (ch === '{' || ch === '[') {
      this.#advance()
      const close = ch === '{' ? '}' : ']'
      const items: Term[] = []
      this.#skip()
      if (this.text[this.#pos] === close) { this.#advance(); return { kind: ch === '{' ? 'tuple' : 'list', items, line, column } }
      for (;;) {
        items.push(this.#term())
        this.#skip()
        const next = this.text[this.#pos]
        if (next === ',') { this.#advance(); continue }
        if (next === close) { this.#advance(); return { kind: ch === '{' ? 'tuple' : 'list', items, line, column } }
        this.fail(next === undefined ? `unclosed "${ch}" opened at ${line}:${column}` : `expected "," or "${close}", got ${JSON.stringify(next)}`)
      }
    }
    if (ch === '"') return { kind: 'string', value: this.#quoted('"'), line, column }
    if (ch === "'") return { kind: 'atom', value: this.#quoted("'"), line, column }
    const word = /^(?:[a-z][A-Za-z0-9_@]*|-?\d+)/.exec(this.text.slice(this.#pos, this.#pos + 256))
    if (!word) this.fail(`unexpected ${JSON.stringify(ch)}`)
    for (let i = 0; i < word[0].length; i++) this.#advance()
    return /^-?\d/.test(word[0])
      ? { kind: 'int', value: Number(word[0]), line, column }
      : { kind: 'atom', value: word[0], line, column }
  }

  #quoted (quote: string): string {
    const line = this.#line
    const column = this.#column
    this.#advance()
    let out = ''
    for (;;) {
      if (this.#pos >= this.text.length) this.fail(`unterminated ${quote === '"' ? 'string' : 'quoted atom'}`, line, column)
      const ch = this.#advance()
      if (ch === quote) return out
      if (ch !== '\\') { out += ch; continue }
      const esc = this.#advance()
      out += ({ n: '\n', t: '\t', r: '\r', s: ' ' } as Record<string, string>)[esc] ?? esc
    }
  }
}

// ---- rules ----

function fail (file: string, term: Term, reason: string): never {
  throw new AclParseError(file, term.line, term.column, reason)
}

function describe (term: Term): string {
  switch (term.kind) {
    case 'atom': return term.value
    case 'string': return JSON.stringify(term.value)
    case 'int': return String(term.value)
    case 'tuple': return 'a tuple'
    case 'list': return 'a list'
  }
}

function compileRule (term: Term, file: string): AclRule {
  if (term.kind !== 'tuple' || (term.items.length !== 2 && term.items.length !== 4)) {
    fail(file, term, 'a rule is {Permission, Who, Action, Topics} or {Permission, Who}')
  }
  const [perm, who, action, topics] = term.items as [Term, Term, Term | undefined, Term | undefined]
  if (perm.kind !== 'atom' || (perm.value !== 'allow' && perm.value !== 'deny')) fail(file, perm, `expected allow or deny, got ${describe(perm)}`)
  return {
    permission: perm.value,
    who: compileWho(who, file),
    action: action ? compileAction(action, file) : { type: 'all' },
    topics: topics ? compileTopics(topics, file) : undefined,
    origin: `${file}:${term.line}`,
  }
}

function compileWho (term: Term, file: string): Who {
  if (term.kind === 'atom' && term.value === 'all') return { type: 'all' }
  if (term.kind !== 'tuple' || term.items.length !== 2 || term.items[0]!.kind !== 'atom') {
    fail(file, term, `expected all, {username, ...}, {clientid, ...}, {ipaddr, ...}, {ipaddrs, [...]}, {'and', [...]} or {'or', [...]}, got ${describe(term)}`)
  }
  const key = (term.items[0] as { value: string }).value
  const arg = term.items[1]!
  switch (key) {
    case 'username': case 'user': return { type: 'username', match: matchValue(arg, file) }
    case 'clientid': case 'client': return { type: 'clientid', match: matchValue(arg, file) }
    case 'ipaddr': return ipWho(file, [arg])
    case 'ipaddrs':
      if (arg.kind !== 'list') fail(file, arg, 'ipaddrs takes a list of addresses')
      return ipWho(file, arg.items)
    case 'and': case 'or':
      if (arg.kind !== 'list' || arg.items.length === 0) fail(file, arg, `'${key}' takes a non-empty list`)
      return { type: key, items: arg.items.map((t) => compileWho(t, file)) }
    default: return fail(file, term.items[0]!, `unknown client matcher ${key}`)
  }
}

function matchValue (term: Term, file: string): string | RegExp {
  if (term.kind === 'string') return term.value
  if (term.kind === 'tuple' && term.items.length === 2 && term.items[0]!.kind === 'atom' && term.items[0]!.value === 're' && term.items[1]!.kind === 'string') {
    try {
      return new RegExp(term.items[1]!.value)
    } catch (err) {
      return fail(file, term.items[1]!, `invalid regular expression: ${(err as Error).message}`)
    }
  }
  return fail(file, term, `expected a string or {re, "regex"}, got ${describe(term)}`)
}

function ipWho (file: string, items: Term[]): Who {
  const block = new BlockList()
  const texts: string[] = []
  for (const item of items) {
    if (item.kind !== 'string') fail(file, item, `expected an address or CIDR string, got ${describe(item)}`)
    const [address, bits, extra] = item.value.split('/')
    const family = isIPv4(address!) ? 'ipv4' : isIPv6(address!) ? 'ipv6' : null
    const prefix = bits === undefined ? undefined : Number(bits)
    const max = family === 'ipv4' ? 32 : 128
    if (!family || extra !== undefined || (prefix !== undefined && (!/^\d+$/.test(bits!) || prefix > max))) {
      fail(file, item, `invalid address or CIDR ${JSON.stringify(item.value)}`)
    }
    if (prefix === undefined) block.addAddress(address!, family)
    else block.addSubnet(address!, prefix, family)
    texts.push(item.value)
  }
  return { type: 'ipaddr', text: texts.join(','), block }
}

const ACTIONS = new Set(['publish', 'subscribe', 'all'])

function compileAction (term: Term, file: string): AclAction {
  if (term.kind === 'atom' && ACTIONS.has(term.value)) return { type: term.value as ActionType }
  if (term.kind !== 'tuple' || term.items.length !== 2 || term.items[0]!.kind !== 'atom' || !ACTIONS.has(term.items[0]!.value) || term.items[1]!.kind !== 'list') {
    fail(file, term, `expected publish, subscribe, all or {Action, [Conditions]}, got ${describe(term)}`)
  }
  const action: AclAction = { type: (term.items[0] as { value: string }).value as ActionType }
  for (const cond of (term.items[1] as { items: Term[] }).items) {
    if (cond.kind !== 'tuple' || cond.items.length !== 2 || cond.items[0]!.kind !== 'atom') fail(file, cond, `expected {qos, ...} or {retain, ...}, got ${describe(cond)}`)
    const [key, value] = cond.items as [Term & { value: string }, Term]
    if (key.value === 'qos') action.qos = qosList(value, file)
    else if (key.value === 'retain') {
      if (value.kind !== 'atom' || !['true', 'false', 'all'].includes(value.value)) fail(file, value, `retain takes true, false or all, got ${describe(value)}`)
      action.retain = value.value === 'all' ? 'all' : value.value === 'true'
    } else fail(file, key, `unknown action condition ${key.value}`)
  }
  return action
}

function qosList (term: Term, file: string): number[] {
  const items = term.kind === 'list' ? term.items : [term]
  return items.map((q) => {
    if (q.kind !== 'int' || q.value < 0 || q.value > 2) fail(file, q, `qos takes 0, 1, 2 or a list of them, got ${describe(q)}`)
    return q.value
  })
}

function compileTopics (term: Term, file: string): AclTopic[] {
  const items = term.kind === 'list' ? term.items : [term]
  return items.map((t) => {
    if (t.kind === 'string') return parseTopicText(t.value)
    if (t.kind === 'tuple' && t.items.length === 2 && t.items[0]!.kind === 'atom' && t.items[0]!.value === 'eq' && t.items[1]!.kind === 'string') {
      return { text: t.items[1]!.value, eq: true }
    }
    return fail(file, t, `expected a topic string or {eq, "topic"}, got ${describe(t)}`)
  })
}

/** `"eq t/#"` is EMQX's string spelling of `{eq, "t/#"}`. */
export function parseTopicText (text: string): AclTopic {
  return text.startsWith('eq ') ? { text: text.slice(3), eq: true } : { text, eq: false }
}
