// Redis command lines as EMQX writes them in `cmd`, split into arguments. Pure (no imports): the config
// schema checks a cmd with it at load time, and the Redis backend splits with it.

/**
 * Splits a command line as EMQX's emqx_redis_command:split (and redis-cli) do: arguments separated by
 * spaces; "double quotes" with \n \r \t \b \a \xHH and \<char> escapes; 'single quotes' with \' only.
 * Throws on an unterminated quote or text right after a closing quote.
 */
export function splitCommand (line: string): string[] {
  const args: string[] = []
  let i = 0
  while (i < line.length) {
    while (space(line[i])) i++
    if (i >= line.length) break
    let arg = ''
    for (;;) {
      const c = line[i]
      if (c === undefined || space(c)) break
      if (c === '"' || c === '\'') {
        const [text, next] = quoted(line, i + 1, QUOTES[c])
        arg += text
        i = next
        break
      }
      arg += c
      i++
    }
    args.push(arg)
  }
  return args
}

const space = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r'

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' }

/** A quote style: its name in errors and its escapes (the backslash at `i`: the text and where it ends, or undefined for a plain backslash). */
interface Quote { char: string, name: string, escape (line: string, i: number): [string, number] | undefined }

const QUOTES: Record<'"' | '\'', Quote> = {
  '"': {
    char: '"',
    name: 'double',
    escape: (line, i) => {
      if (line[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) return [String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16)), i + 4]
      if (i + 1 < line.length) return [ESCAPES[line[i + 1]!] ?? line[i + 1]!, i + 2]
      return undefined
    },
  },
  '\'': { char: '\'', name: 'single', escape: (line, i) => (line[i + 1] === '\'' ? ['\'', i + 2] : undefined) },
}

/** The text of a quoted part that starts at `i` (after its opening quote), and where the argument goes on (after the closing quote). */
function quoted (line: string, i: number, quote: Quote): [string, number] {
  let text = ''
  for (;;) {
    const d = line[i]
    if (d === undefined) throw new Error(`unterminated ${quote.name} quote`)
    const escaped = d === '\\' ? quote.escape(line, i) : undefined
    if (escaped) {
      text += escaped[0]
      i = escaped[1]
    } else if (d === quote.char) {
      i++
      if (line[i] !== undefined && !space(line[i])) throw new Error(`text right after a closing ${quote.name} quote`)
      return [text, i]
    } else {
      text += d
      i++
    }
  }
}
