import type { Field, Piece, Pos, Value } from './ast.js'
import { HoconError } from './errors.js'
import { tokenize, type Token } from './lexer.js'

/**
 * Parses a whole config file: fields, optionally wrapped in one pair of braces. `depth` is how deep
 * its fields land in the config (an included file's target), counted toward the nesting limit.
 */
export function parseDocument(src: string, file: string, depth = 0): Field[] {
  const p = new Parser(tokenize(src, file), file, depth)
  p.skipBlank()
  if (p.peek().kind === '[') p.fail(p.peek(), 'the root of a config file must be an object, not an array')
  if (p.peek().kind !== '{') return p.fields('eof', undefined)
  const fields = p.braced()
  p.expectEnd('after the root object')
  return fields
}

/** Parses text holding exactly one value, e.g. an environment variable. */
export function parseSingleValue(src: string, file: string): Value {
  const p = new Parser(tokenize(src, file), file)
  p.skipBlank()
  const value = p.value('a value')
  p.expectEnd('after the value')
  return value
}

const INCLUDE_WRAPPERS = ['required(', 'file(', 'classpath(', 'url(']
const MAX_DEPTH = 500

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof': return 'end of file'
    case 'nl': return 'end of line'
    case 'ws': return 'whitespace'
    case 'string': return 'a quoted string'
    default: return `'${t.text}'`
  }
}

function posOf(t: Token): Pos {
  return { line: t.line, column: t.column }
}

class Parser {
  private i = 0

  /** `depth`: of nested objects and arrays, so that a runaway file fails cleanly (not with a stack overflow). */
  constructor(private readonly tokens: Token[], private readonly file: string, private depth = 0) {}

  peek(): Token {
    return this.tokens[this.i]
  }

  private next(): Token {
    const t = this.tokens[this.i]
    if (t.kind !== 'eof') this.i++
    return t
  }

  private skipWs(): void {
    while (this.peek().kind === 'ws') this.i++
  }

  /** Skips whitespace and newlines; true if there was a newline. */
  skipBlank(): boolean {
    let newline = false
    for (let k = this.peek().kind; k === 'ws' || k === 'nl'; k = this.peek().kind) {
      newline ||= k === 'nl'
      this.i++
    }
    return newline
  }

  fail(t: Token, reason: string): never {
    throw new HoconError({ file: this.file, line: t.line, column: t.column }, reason)
  }

  expectEnd(where: string): void {
    this.skipBlank()
    const t = this.peek()
    if (t.kind !== 'eof') this.fail(t, `unexpected ${describe(t)} ${where}`)
  }

  /** `{ fields }`; the current token is the `{`. */
  braced(): Field[] {
    const open = this.enter()
    const fields = this.fields('}', open)
    this.next()
    this.depth--
    return fields
  }

  /** Consumes the `{` or `[` that opens a nested object or array. */
  private enter(): Token {
    const open = this.next()
    if (++this.depth > MAX_DEPTH) this.fail(open, `objects and arrays nested more than ${MAX_DEPTH} deep`)
    return open
  }

  /** Fields up to (not including) `end`, separated by newlines or single commas. */
  fields(end: '}' | 'eof', open: Token | undefined): Field[] {
    const fields: Field[] = []
    for (;;) {
      this.skipBlank()
      const t = this.peek()
      if (t.kind === end) return fields
      this.checkClosing(t, open)
      fields.push(this.field())
      const newline = this.skipBlank()
      const sep = this.peek()
      if (sep.kind === ',') this.next()
      else if (!newline && sep.kind !== end) {
        this.checkClosing(sep, open)
        this.fail(sep, `expected ',' or a new line after the value, found ${describe(sep)}`)
      }
    }
  }

  /** Fails on a token that closes the wrong thing, or hits the end inside `open`. */
  private checkClosing(t: Token, open: Token | undefined): void {
    if (open && (t.kind === 'eof' || t.kind === ']')) {
      this.fail(t, `expected '}' to close object opened at ${open.line}:${open.column}, found ${describe(t)}`)
    }
    if (!open && (t.kind === '}' || t.kind === ']')) this.fail(t, `unexpected '${t.kind}' with nothing to close`)
  }

  private field(): Field {
    const start = this.peek()
    if (start.kind === 'text' && start.text === 'include' && this.isInclude()) return this.include()
    const path = this.key()
    // `a.b.c = 1` nests as deep as `a { b { c = 1 } }`
    if (this.depth + path.length > MAX_DEPTH) this.fail(start, `objects and arrays nested more than ${MAX_DEPTH} deep`)
    this.skipWs()
    const sep = this.peek()
    const shown = path.join('.')
    if (sep.kind === '=' || sep.kind === ':' || sep.kind === '+=') {
      this.next()
      this.skipWs()
    } else if (sep.kind !== '{') {
      this.fail(sep, `expected '=', ':' or '{' after key '${shown}', found ${describe(sep)}`)
    }
    const value = this.value(`a value for key '${shown}'`)
    return { kind: 'field', path, append: sep.kind === '+=', value, pos: posOf(start) }
  }

  /** A key path: unquoted parts split on dots, quoted parts kept whole. */
  private key(): string[] {
    const first = this.peek()
    const path: string[] = []
    let segment = ''
    let quoted = false
    let pendingWs = ''
    for (let t = first; ; t = this.peek()) {
      if (t.kind === 'ws') {
        pendingWs += t.text
      } else if (t.kind === 'string') {
        segment += pendingWs + t.text
        quoted = true
      } else if (t.kind === 'text') {
        const parts = (pendingWs + t.text).split('.')
        segment += parts[0]
        for (let k = 1; k < parts.length; k++) {
          if (segment === '' && !quoted) this.fail(t, `invalid key '${t.text}': empty path element`)
          path.push(segment)
          segment = parts[k]
          quoted = false
        }
      } else {
        break
      }
      if (t.kind !== 'ws') pendingWs = ''
      this.next()
    }
    if (segment === '' && !quoted) {
      if (first.kind === 'subst') this.fail(first, 'substitutions cannot be used in keys')
      if (path.length === 0) this.fail(first, `expected a key, found ${describe(first)}`)
      this.fail(first, `invalid key '${path.join('.')}.': empty path element`)
    }
    path.push(segment)
    return path
  }

  /** Pieces up to the end of the line, a separator or a closing bracket. */
  value(what: string): Value {
    const first = this.peek()
    const pieces: Piece[] = []
    for (let piece = this.piece(false); piece; piece = this.piece(true)) pieces.push(piece)
    while (pieces.length > 0 && pieces[pieces.length - 1].kind === 'ws') pieces.pop()
    if (pieces.length === 0) this.fail(first, `expected ${what}, found ${describe(first)}`)
    return { pieces, pos: pieces[0].pos }
  }

  /** The next piece of a value, or undefined where the value ends. */
  private piece(continuing: boolean): Piece | undefined {
    const t = this.peek()
    const pos = posOf(t)
    switch (t.kind) {
      case 'text':
      case 'string':
      case 'ws':
        this.next()
        return { kind: t.kind, text: t.text, pos }
      case ':':
        // `0.0.0.0:1883`: HOCON forbids ':' in unquoted values, but EMQX configs write addresses that way
        if (!continuing) return undefined
        this.next()
        return { kind: 'text', text: ':', pos }
      case 'subst':
        this.next()
        return { kind: 'subst', path: t.path ?? [], optional: t.optional ?? false, text: t.text, pos }
      case '{':
        return { kind: 'object', fields: this.braced(), pos }
      case '[':
        return { kind: 'array', items: this.array(), pos }
      default:
        return undefined
    }
  }

  /** `[ values ]`; the current token is the `[`. */
  private array(): Value[] {
    const open = this.enter()
    const items: Value[] = []
    for (;;) {
      this.skipBlank()
      const t = this.peek()
      if (t.kind === ']') break
      if (t.kind === 'eof' || t.kind === '}') {
        this.fail(t, `expected ']' to close array opened at ${open.line}:${open.column}, found ${describe(t)}`)
      }
      items.push(this.value('an array element'))
      const newline = this.skipBlank()
      const sep = this.peek()
      if (sep.kind === ',') this.next()
      else if (!newline && sep.kind !== ']' && sep.kind !== 'eof' && sep.kind !== '}') {
        this.fail(sep, `expected ',' or ']' after an array element, found ${describe(sep)}`)
      }
    }
    this.next()
    this.depth--
    return items
  }

  private isInclude(): boolean {
    let j = this.i + 1
    while (this.tokens[j].kind === 'ws') j++
    const t = this.tokens[j]
    return t.kind === 'string' || (t.kind === 'text' && INCLUDE_WRAPPERS.some((w) => t.text.startsWith(w)))
  }

  /** `include "f"`, `include file("f")`, `include required("f")`, `include required(file("f"))`. */
  private include(): Field {
    this.next()
    this.skipWs()
    let required = false
    let open = 0
    const head = this.peek()
    if (head.kind === 'text') {
      let rest = head.text
      for (const w of INCLUDE_WRAPPERS) {
        if (!rest.startsWith(w)) continue
        if (w === 'classpath(' || w === 'url(') this.fail(head, `include ${w}...) is not supported, use file(...)`)
        if (w === 'required(') required = true
        rest = rest.slice(w.length)
        open++
      }
      if (rest !== '') this.fail(head, `unexpected '${head.text}' in include, expected a quoted file name`)
      this.next()
      this.skipWs()
    }
    const name = this.peek()
    if (name.kind !== 'string') this.fail(name, `expected a quoted file name after include, found ${describe(name)}`)
    this.next()
    let closing = ''
    while (closing.length < open) {
      this.skipWs()
      const t = this.peek()
      if (t.kind !== 'text' || !/^\)+$/.test(t.text)) this.fail(t, `expected ')' to close include, found ${describe(t)}`)
      closing += t.text
      this.next()
    }
    if (closing.length > open) this.fail(name, "too many ')' after include")
    return { kind: 'include', name: name.text, required, pos: posOf(name) }
  }
}
