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
  const space = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r'
  while (i < line.length) {
    while (space(line[i])) i++
    if (i >= line.length) break
    let arg = ''
    for (;;) {
      const c = line[i]
      if (c === undefined || space(c)) break
      if (c === '"') {
        i++
        for (;;) {
          const d = line[i]
          if (d === undefined) throw new Error('unterminated double quote')
          if (d === '\\' && line[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
            arg += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16))
            i += 4
          } else if (d === '\\' && i + 1 < line.length) {
            const e = line[i + 1]!
            arg += ({ n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' } as Record<string, string>)[e] ?? e
            i += 2
          } else if (d === '"') {
            i++
            if (line[i] !== undefined && !space(line[i])) throw new Error('text right after a closing double quote')
            break
          } else {
            arg += d
            i++
          }
        }
        break
      }
      if (c === '\'') {
        i++
        for (;;) {
          const d = line[i]
          if (d === undefined) throw new Error('unterminated single quote')
          if (d === '\\' && line[i + 1] === '\'') {
            arg += '\''
            i += 2
          } else if (d === '\'') {
            i++
            if (line[i] !== undefined && !space(line[i])) throw new Error('text right after a closing single quote')
            break
          } else {
            arg += d
            i++
          }
        }
        break
      }
      arg += c
      i++
    }
    args.push(arg)
  }
  return args
}
