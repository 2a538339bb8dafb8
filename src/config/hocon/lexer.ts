import { HoconError } from './errors.js'

export type TokenKind =
  | '{' | '}' | '[' | ']' | ',' | '=' | ':' | '+='
  | 'nl' | 'ws' | 'text' | 'string' | 'subst' | 'eof'

export interface Token {
  kind: TokenKind
  /** Unquoted text, decoded string contents, whitespace, or the whole `${...}` for a substitution. */
  text: string
  line: number
  column: number
  /** Substitutions only. */
  path?: string[]
  optional?: boolean
}

const LF = 10
const QUOTE = 34
const BACKSLASH = 92
const PUNCT: Record<string, TokenKind> = { '{': '{', '}': '}', '[': '[', ']': ']', ',': ',', '=': '=', ':': ':' }
// ASCII characters that end an unquoted string. HOCON also forbids `@ % | * +`, but EMQX configs rely on
// them ('+' still ends the text before '=', and '//' starts a comment).
const NOT_TEXT = new Uint8Array(128)
for (const ch of '$"{}[]:=,#`^?!&\\') NOT_TEXT[ch.charCodeAt(0)] = 1
for (let c = 0; c <= 32; c++) NOT_TEXT[c] = 1
NOT_TEXT[127] = 1

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '"': '"', '\\': '\\', '/': '/' }

function isSpace(c: number): boolean {
  if (c < 128) return c === 32 || c === 9 || c === 13 || c === 11 || c === 12
  return c === 0xa0 || c === 0xfeff || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
}

export function tokenize(src: string, file: string): Token[] {
  return new Lexer(src, file).run()
}

class Lexer {
  private pos = 0
  private line = 1
  private lineStart = 0
  private readonly tokens: Token[] = []

  constructor(private readonly src: string, private readonly file: string) {}

  run(): Token[] {
    const s = this.src
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos)
      const ch = s[this.pos]
      if (c === LF) {
        this.push('nl', '\n', this.pos)
        this.pos++
        this.line++
        this.lineStart = this.pos
      } else if (isSpace(c)) {
        const start = this.pos
        while (this.pos < s.length && isSpace(s.charCodeAt(this.pos))) this.pos++
        this.push('ws', s.slice(start, this.pos), start)
      } else if (ch === '#' || (ch === '/' && s[this.pos + 1] === '/')) {
        while (this.pos < s.length && s.charCodeAt(this.pos) !== LF) this.pos++
      } else if (PUNCT[ch] !== undefined) {
        this.push(PUNCT[ch], ch, this.pos)
        this.pos++
      } else if (ch === '+' && s[this.pos + 1] === '=') {
        this.push('+=', '+=', this.pos)
        this.pos += 2
      } else if (c === QUOTE) {
        this.string()
      } else if (ch === '$' && s[this.pos + 1] === '{') {
        this.substitution()
      } else if (this.isText(this.pos)) {
        const start = this.pos
        while (this.pos < s.length && this.isText(this.pos)) this.pos++
        this.push('text', s.slice(start, this.pos), start)
      } else {
        const hint = ch === '$' ? ' (substitutions are written ${path})' : ' (quote the value to use it)'
        throw this.error(this.pos, `unexpected character '${ch}'${hint}`)
      }
    }
    this.push('eof', '', this.pos)
    return this.tokens
  }

  private isText(i: number): boolean {
    const c = this.src.charCodeAt(i)
    if (Number.isNaN(c)) return false // past the end
    if (c >= 128) return !isSpace(c)
    if (NOT_TEXT[c] === 1) return false
    if (c === 43 /* + */) return this.src.charCodeAt(i + 1) !== 61 /* = */
    if (c === 47 /* / */) return this.src.charCodeAt(i + 1) !== 47
    return true
  }

  private string(): void {
    const start = this.pos
    if (this.src.startsWith('"""', start)) {
      let end = this.src.indexOf('"""', start + 3)
      if (end < 0) throw this.error(start, 'unterminated triple-quoted string')
      // Quotes right before the closing """ belong to the string: """a""""" is `a""`.
      while (this.src.charCodeAt(end + 3) === QUOTE) end++
      const text = this.src.slice(start + 3, end)
      this.push('string', text, start)
      this.pos = end + 3
      this.countLines(text, start + 3)
      return
    }
    this.push('string', this.quoted(), start)
  }

  /** Reads a "..." string at `pos` and returns its decoded contents. */
  private quoted(): string {
    const s = this.src
    const open = this.pos
    let out = ''
    let chunk = ++this.pos
    for (;;) {
      const c = s.charCodeAt(this.pos)
      if (this.pos >= s.length || c === LF) throw this.error(open, 'unterminated string')
      if (c === QUOTE) {
        out += s.slice(chunk, this.pos++)
        return out
      }
      if (c === BACKSLASH) {
        out += s.slice(chunk, this.pos)
        out += this.escape()
        chunk = this.pos
      } else {
        this.pos++
      }
    }
  }

  private escape(): string {
    const at = this.pos
    const ch = this.src[at + 1]
    if (ch === 'u') {
      const hex = this.src.slice(at + 2, at + 6)
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.error(at, `invalid unicode escape '\\u${hex}'`)
      this.pos += 6
      return String.fromCharCode(parseInt(hex, 16))
    }
    const decoded = ch === undefined ? undefined : ESCAPES[ch]
    if (decoded === undefined) throw this.error(at, `invalid escape sequence '\\${ch ?? ''}' in string`)
    this.pos += 2
    return decoded
  }

  private substitution(): void {
    const s = this.src
    const start = this.pos
    this.pos += 2
    const optional = s.charCodeAt(this.pos) === 63 /* ? */
    if (optional) this.pos++
    const path: string[] = []
    let segment = ''
    let quoted = false
    let valid = true
    for (;;) {
      const c = s.charCodeAt(this.pos)
      if (this.pos >= s.length || c === LF) throw this.error(start, "unterminated substitution, expected '}'")
      if (c === 46 /* . */ || c === 125 /* } */) {
        valid &&= segment !== '' || quoted
        path.push(segment)
        segment = ''
        quoted = false
        this.pos++
        if (c === 125) break
      } else if (c === QUOTE) {
        segment += this.quoted()
        quoted = true
      } else if (isSpace(c)) {
        this.pos++
      } else if (this.isText(this.pos)) {
        const from = this.pos
        while (this.isText(this.pos) && s.charCodeAt(this.pos) !== 46) this.pos++
        segment += s.slice(from, this.pos)
      } else {
        throw this.error(this.pos, `unexpected character '${s[this.pos]}' in substitution`)
      }
    }
    const text = s.slice(start, this.pos)
    if (!valid) throw this.error(start, `invalid substitution ${text}: empty path element`)
    this.tokens.push({ kind: 'subst', text, line: this.line, column: start - this.lineStart + 1, path, optional })
  }

  private countLines(text: string, offset: number): void {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      this.line++
      this.lineStart = offset + i + 1
    }
  }

  private tokenAt(kind: TokenKind, text: string, at: number): Token {
    return { kind, text, line: this.line, column: at - this.lineStart + 1 }
  }

  private push(kind: TokenKind, text: string, at: number): void {
    this.tokens.push(this.tokenAt(kind, text, at))
  }

  private error(at: number, reason: string): HoconError {
    return new HoconError({ file: this.file, line: this.line, column: at - this.lineStart + 1 }, reason)
  }
}
