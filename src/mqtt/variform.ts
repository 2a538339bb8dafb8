// EMQX's variform expressions (mqtt.client_attrs_init, mqtt.clientid_override): one function call or
// variable, `nth(1, tokens(clientid, '.'))`, over a fixed set of string functions. Our own small parser,
// strict and bounded: an expression is parsed once (from the config), never evaluated as code, its length,
// nesting and arguments are capped, and so are what regular expressions read and what a result may grow to.
// Variables are looked up by the caller (a client's clientid, username, cn, dn, user_property.NAME...).
//
// Grammar (EMQX's emqx_variform_parser): expr := call | variable | true | false;
// call := name '(' [arg {',' arg}] ')'; arg := expr | '[' arg {',' arg} ']' | integer | float | 'text' | "text".

export type Value = string | number | boolean | Value[]

type Node =
  | { kind: 'call', name: string, args: Node[] }
  | { kind: 'var', name: string }
  | { kind: 'array', items: Node[] }
  | { kind: 'literal', value: string | number | boolean }

export interface Expression { readonly text: string, readonly root: Node }

/** Looks a variable up: undefined when it is not bound (an error, unless inside coalesce or is_empty). */
export type Bindings = (name: string) => Value | undefined

export const MAX_EXPRESSION_LENGTH = 1024
export const MAX_DEPTH = 16
export const MAX_ARGS = 32
/** Longest text a regular expression is run on (a client's id may be 64 KB; a pattern may backtrack). */
export const MAX_REGEX_INPUT = 4096
/** Longest string a function may return. */
export const MAX_RESULT_LENGTH = 65535

export class VariformError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'VariformError'
  }
}

// ---- scanning and parsing ----

type Token =
  | { t: 'ident', v: string, at: number }
  | { t: 'str', v: string, at: number }
  | { t: 'num', v: number, at: number }
  | { t: '(' | ')' | '[' | ']' | ',', at: number }

const TOKEN = /\s*(?:([a-zA-Z][-a-zA-Z0-9_.]*)|'([^']*)'|"([^"]*)"|([+-]?\d+\.\d+)|([+-]?\d+)|([()[\],]))/y

function scan (text: string): Token[] {
  const tokens: Token[] = []
  let at = 0
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break
    TOKEN.lastIndex = at
    const m = TOKEN.exec(text)
    if (!m) throw new VariformError(`unexpected character ${JSON.stringify(text.slice(at).trimStart()[0])} at ${at + (text.slice(at).length - text.slice(at).trimStart().length) + 1}`)
    const pos = m.index + m[0].length - m[0].trimStart().length + 1
    if (m[1] !== undefined) tokens.push({ t: 'ident', v: m[1], at: pos })
    else if (m[2] !== undefined || m[3] !== undefined) tokens.push({ t: 'str', v: m[2] ?? m[3]!, at: pos })
    else if (m[4] !== undefined || m[5] !== undefined) {
      const n = Number(m[4] ?? m[5])
      if (!Number.isSafeInteger(n) && m[5] !== undefined) throw new VariformError(`integer ${m[5]} out of range at ${pos}`)
      tokens.push({ t: 'num', v: n, at: pos })
    } else tokens.push({ t: m[6] as '(' | ')' | '[' | ']' | ',', at: pos })
    at = TOKEN.lastIndex
  }
  return tokens
}

/** Parses (and checks every function name and arity of) an expression; throws VariformError saying what and where. */
export function compile (text: string): Expression {
  if (typeof text !== 'string' || text.trim() === '') throw new VariformError('empty expression')
  if (text.length > MAX_EXPRESSION_LENGTH) throw new VariformError(`expression longer than ${MAX_EXPRESSION_LENGTH} characters`)
  const tokens = scan(text)
  let i = 0
  const peek = () => tokens[i]
  const where = () => (tokens[i] ? `at ${tokens[i]!.at}` : 'at the end')
  const expect = (t: Token['t']) => {
    if (peek()?.t !== t) throw new VariformError(`expected ${t} ${where()}`)
    i++
  }
  const list = (close: ')' | ']', depth: number): Node[] => {
    const items: Node[] = []
    if (peek()?.t === close) { i++; return items }
    for (;;) {
      items.push(arg(depth))
      if (items.length > MAX_ARGS) throw new VariformError(`more than ${MAX_ARGS} arguments ${where()}`)
      if (peek()?.t === ',') { i++; continue }
      expect(close)
      return items
    }
  }
  const expr = (depth: number): Node => {
    if (depth > MAX_DEPTH) throw new VariformError(`nested deeper than ${MAX_DEPTH} ${where()}`)
    const tok = peek()
    if (tok?.t !== 'ident') throw new VariformError(`expected a function call or a variable ${where()}`)
    i++
    if (tok.v === 'true' || tok.v === 'false') return { kind: 'literal', value: tok.v === 'true' }
    if (peek()?.t !== '(') return { kind: 'var', name: tok.v }
    i++
    const args = list(')', depth + 1)
    checkFunction(tok.v, args.length, tok.at)
    return { kind: 'call', name: tok.v, args }
  }
  const arg = (depth: number): Node => {
    const tok = peek()
    if (tok?.t === 'str') { i++; return { kind: 'literal', value: tok.v } }
    if (tok?.t === 'num') { i++; return { kind: 'literal', value: tok.v } }
    if (tok?.t === '[') {
      if (depth > MAX_DEPTH) throw new VariformError(`nested deeper than ${MAX_DEPTH} ${where()}`)
      i++
      return { kind: 'array', items: list(']', depth + 1) }
    }
    return expr(depth)
  }
  const root = expr(0)
  if (i < tokens.length) throw new VariformError(`unexpected text ${where()}`)
  return { text, root }
}

function checkFunction (name: string, arity: number, at: number): void {
  const spec = functionSpec(name.startsWith('emqx_variform_bif.') ? name.slice('emqx_variform_bif.'.length) : name)
  if (!spec) throw new VariformError(`unknown function ${name} at ${at}`)
  if (!spec.arities.includes(arity) && !(spec.arities.includes(-1) && arity >= 1)) {
    throw new VariformError(`${name} takes ${spec.arities.filter((a) => a >= 0).join(' or ')}${spec.arities.includes(-1) ? ' or more' : ''} arguments, not ${arity} (at ${at})`)
  }
}

// ---- evaluation ----

const isEmpty = (v: Value | undefined): boolean => v === undefined || v === ''

/** Renders an expression to a string ('' for empty); throws VariformError on an unbound variable or a bad argument. */
export function render (expression: Expression, bindings: Bindings): string {
  const value = evaluate(expression.root, bindings)
  if (typeof value === 'string') return value
  if (typeof value === 'number') return numberText(value)
  if (typeof value === 'boolean') return String(value)
  throw new VariformError('the expression gives a list, not a string (use nth or join_to_string)')
}

function numberText (n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(10)))
}

function evaluate (node: Node, bindings: Bindings): Value {
  switch (node.kind) {
    case 'literal': return node.value
    case 'array': return node.items.map((n) => evaluate(n, bindings))
    case 'var': {
      const value = bindings(node.name)
      if (value === undefined) throw new VariformError(`variable ${node.name} is not bound`)
      return value
    }
    case 'call': {
      const name = node.name.startsWith('emqx_variform_bif.') ? node.name.slice('emqx_variform_bif.'.length) : node.name
      if (name === 'coalesce') return coalesce(node.args, bindings)
      if (name === 'is_empty') return isEmpty(lenient(node.args[0]!, bindings))
      if (name === 'iif') {
        const cond = lenient(node.args[0]!, bindings)
        return evaluate(node.args[cond === true || (cond !== false && !isEmpty(cond)) ? 1 : 2]!, bindings)
      }
      const result = functionSpec(name)!.fn(node.args.map((a) => evaluate(a, bindings)))
      if (typeof result === 'string' && result.length > MAX_RESULT_LENGTH) throw new VariformError(`${name} gives more than ${MAX_RESULT_LENGTH} characters`)
      return result
    }
  }
}

/** An unbound variable as empty (coalesce, is_empty, iif's condition). */
function lenient (node: Node, bindings: Bindings): Value {
  try {
    return evaluate(node, bindings)
  } catch (err) {
    if (err instanceof VariformError && /is not bound$/.test(err.message)) return ''
    throw err
  }
}

/** The first non-empty of its arguments, of the items of its one array argument, or of the list its one argument gives. */
function coalesce (args: Node[], bindings: Bindings): Value {
  const only = args.length === 1 ? args[0]! : undefined
  if (only && only.kind !== 'array') {
    const value = lenient(only, bindings)
    return Array.isArray(value) ? (value.find((v) => !isEmpty(v)) ?? '') : value
  }
  for (const item of only?.kind === 'array' ? only.items : args) {
    const v = lenient(item, bindings)
    if (!isEmpty(v)) return v
  }
  return ''
}

// ---- functions (EMQX's emqx_variform_bif, the string and list ones) ----

const str = (v: Value | undefined, fn: string): string => {
  if (typeof v === 'string') return v
  if (typeof v === 'number') return numberText(v)
  if (typeof v === 'boolean') return String(v)
  throw new VariformError(`${fn}: expected a string, got a list`)
}
const int = (v: Value | undefined, fn: string): number => {
  const n = typeof v === 'string' && /^[+-]?\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new VariformError(`${fn}: expected an integer, got ${JSON.stringify(v)}`)
  return n
}
const list = (v: Value | undefined, fn: string): Value[] => {
  if (!Array.isArray(v)) throw new VariformError(`${fn}: expected a list`)
  return v
}
const chars = (s: string) => Array.from(s)

const regexCache = new Map<string, RegExp>()
function regex (pattern: string, fn: string, subject: string, flags = ''): RegExp {
  if (subject.length > MAX_REGEX_INPUT) throw new VariformError(`${fn}: the text is longer than ${MAX_REGEX_INPUT} characters`)
  const key = `${flags}/${pattern}`
  let re = regexCache.get(key)
  if (!re) {
    try {
      re = new RegExp(pattern, flags)
    } catch (err) {
      throw new VariformError(`${fn}: bad regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`)
    }
    if (regexCache.size >= 256) regexCache.clear()
    regexCache.set(key, re)
  }
  re.lastIndex = 0
  return re
}

function trimChars (s: string, set: string, leading: boolean, trailing: boolean): string {
  const cs = chars(s)
  const drop = new Set(chars(set))
  let a = 0
  let b = cs.length
  if (leading) while (a < b && drop.has(cs[a]!)) a++
  if (trailing) while (b > a && drop.has(cs[b - 1]!)) b--
  return cs.slice(a, b).join('')
}
const WS = ' \t\n\r\v\f'

function split (s: string, p: string, mode = 'all'): string[] {
  if (p === '') return [s]
  const keepEmpty = mode.endsWith('notrim')
  let parts: string[]
  if (mode.startsWith('leading')) {
    const at = s.indexOf(p)
    parts = at < 0 ? [s] : [s.slice(0, at), s.slice(at + p.length)]
  } else if (mode.startsWith('trailing')) {
    const at = s.lastIndexOf(p)
    parts = at < 0 ? [s] : [s.slice(0, at), s.slice(at + p.length)]
  } else parts = s.split(p)
  return keepEmpty ? parts : parts.filter((x) => x !== '')
}

function pad (s: string, len: number, dir: string, ch: string): string {
  if (len > MAX_RESULT_LENGTH) throw new VariformError(`pad: length above ${MAX_RESULT_LENGTH}`)
  const n = len - chars(s).length
  if (n <= 0) return s
  if (dir === 'leading') return ch.repeat(n) + s
  if (dir === 'both') return ch.repeat(Math.floor(n / 2)) + s + ch.repeat(n - Math.floor(n / 2))
  return s + ch.repeat(n)
}

function find (s: string, p: string, dir = 'leading'): string {
  const at = dir === 'trailing' ? s.lastIndexOf(p) : s.indexOf(p)
  return at < 0 ? '' : s.slice(at)
}

function unescape (s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]+|.)/gs, (_, e: string) => {
    if (e[0] === 'x') return String.fromCodePoint(Math.min(parseInt(e.slice(1), 16), 0x10ffff))
    const map: Record<string, string> = { '\\': '\\', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '\'': '\'', '"': '"', '?': '?', a: '\x07' }
    if (!(e in map)) throw new VariformError(`unescape: unrecognized escape \\${e}`)
    return map[e]!
  })
}

type Fn = (args: Value[]) => Value
const FUNCTIONS: Record<string, { arities: number[], fn: Fn }> = {
  lower: { arities: [1], fn: ([s]) => str(s, 'lower').toLowerCase() },
  upper: { arities: [1], fn: ([s]) => str(s, 'upper').toUpperCase() },
  trim: { arities: [1, 2], fn: ([s, c]) => trimChars(str(s, 'trim'), c === undefined ? WS : str(c, 'trim'), true, true) },
  ltrim: { arities: [1, 2], fn: ([s, c]) => trimChars(str(s, 'ltrim'), c === undefined ? WS : str(c, 'ltrim'), true, false) },
  rtrim: { arities: [1, 2], fn: ([s, c]) => trimChars(str(s, 'rtrim'), c === undefined ? WS : str(c, 'rtrim'), false, true) },
  reverse: { arities: [1], fn: ([s]) => chars(str(s, 'reverse')).reverse().join('') },
  rm_prefix: { arities: [2], fn: ([s, p]) => { const t = str(s, 'rm_prefix'); const q = str(p, 'rm_prefix'); return t.startsWith(q) ? t.slice(q.length) : t } },
  strlen: { arities: [1], fn: ([s]) => chars(str(s, 'strlen')).length },
  substr: {
    arities: [2, 3],
    fn: ([s, start, len]) => {
      const cs = chars(str(s, 'substr'))
      const from = Math.max(0, int(start, 'substr'))
      return (len === undefined ? cs.slice(from) : cs.slice(from, from + Math.max(0, int(len, 'substr')))).join('')
    },
  },
  split: { arities: [2, 3], fn: ([s, p, mode]) => split(str(s, 'split'), str(p, 'split'), mode === undefined ? 'all' : str(mode, 'split')) },
  tokens: {
    arities: [2, 3],
    fn: ([s, seps, nocrlf]) => {
      const set = new Set(chars(str(seps, 'tokens') + (nocrlf === 'nocrlf' ? '\r\n' : '')))
      const out: string[] = []
      let cur = ''
      for (const c of chars(str(s, 'tokens'))) {
        if (set.has(c)) { if (cur) out.push(cur); cur = '' } else cur += c
      }
      if (cur) out.push(cur)
      return out
    },
  },
  concat: { arities: [1, 2], fn: (args) => (args.length === 1 ? list(args[0], 'concat') : args).map((v) => str(v, 'concat')).join('') },
  pad: { arities: [2, 3, 4], fn: ([s, len, dir, ch]) => pad(str(s, 'pad'), int(len, 'pad'), dir === undefined ? 'trailing' : str(dir, 'pad'), ch === undefined ? ' ' : str(ch, 'pad')) },
  replace: {
    arities: [3, 4],
    fn: ([s, p, r, mode]) => {
      const t = str(s, 'replace')
      const q = str(p, 'replace')
      const with_ = str(r, 'replace')
      if (q === '') return t
      const m = mode === undefined ? 'all' : str(mode, 'replace')
      if (m === 'leading') return t.replace(q, () => with_)
      if (m === 'trailing') { const at = t.lastIndexOf(q); return at < 0 ? t : t.slice(0, at) + with_ + t.slice(at + q.length) }
      return t.split(q).join(with_)
    },
  },
  regex_match: { arities: [2], fn: ([s, re]) => { const t = str(s, 'regex_match'); return regex(str(re, 'regex_match'), 'regex_match', t).test(t) } },
  regex_replace: { arities: [3], fn: ([s, re, r]) => { const t = str(s, 'regex_replace'); const w = str(r, 'regex_replace'); return t.replace(regex(str(re, 'regex_replace'), 'regex_replace', t, 'g'), () => w) } },
  regex_extract: { arities: [2], fn: ([s, re]) => { const t = str(s, 'regex_extract'); const m = regex(str(re, 'regex_extract'), 'regex_extract', t).exec(t); return m ? m.slice(1).map((g) => g ?? '') : [] } },
  ascii: { arities: [1], fn: ([s]) => { const t = str(s, 'ascii'); if (t === '') throw new VariformError('ascii: empty string'); return t.codePointAt(0)! } },
  find: { arities: [2, 3], fn: ([s, p, dir]) => find(str(s, 'find'), str(p, 'find'), dir === undefined ? 'leading' : str(dir, 'find')) },
  join_to_string: { arities: [1, 2], fn: (args) => args.length === 1 ? list(args[0], 'join_to_string').map((v) => str(v, 'join_to_string')).join(', ') : list(args[1], 'join_to_string').map((v) => str(v, 'join_to_string')).join(str(args[0], 'join_to_string')) },
  nth: {
    arities: [2],
    fn: ([n, l]) => {
      const at = int(n, 'nth')
      const items = list(l, 'nth')
      if (at < 1) throw new VariformError(`nth: index ${at} (the first is 1)`)
      return at > items.length ? '' : items[at - 1]!
    },
  },
  unescape: { arities: [1], fn: ([s]) => unescape(str(s, 'unescape')) },
  any_to_str: { arities: [1], fn: ([v]) => str(v, 'any_to_str') },
  not: { arities: [1], fn: ([b]) => { if (b === true || b === 'true') return false; if (b === false || b === 'false') return true; throw new VariformError('not: expected a boolean') } },
  str_eq: { arities: [2], fn: ([a, b]) => str(a, 'str_eq') === str(b, 'str_eq') },
  str_neq: { arities: [2], fn: ([a, b]) => str(a, 'str_neq') !== str(b, 'str_neq') },
  base64_encode: { arities: [1], fn: ([s]) => Buffer.from(str(s, 'base64_encode')).toString('base64') },
  int2hexstr: { arities: [1], fn: ([n]) => int(n, 'int2hexstr').toString(16).toUpperCase() },
  // Evaluated specially (their arguments may be unbound); listed for the arity check.
  coalesce: { arities: [-1], fn: () => '' },
  is_empty: { arities: [1], fn: () => false },
  iif: { arities: [3], fn: () => '' },
}

/** Own entries only: `constructor` or `__proto__` is not a function of the table. */
function functionSpec (name: string): { arities: number[], fn: Fn } | undefined {
  return Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined
}

/** The functions an expression may call (for docs and errors). */
export const FUNCTION_NAMES: readonly string[] = Object.keys(FUNCTIONS)
