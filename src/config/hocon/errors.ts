/** Where a value or token was written: 1-based line and column. */
export interface Origin {
  file: string
  line: number
  column: number
}

/** Every problem found while reading a HOCON config: syntax, includes, substitutions. */
export class HoconError extends Error {
  readonly code = 'CULEX_ERR_CONFIG_PARSE' as const
  readonly file: string
  readonly line: number
  readonly column: number
  /** The sentence without the `file:line:column: ` prefix. */
  readonly reason: string

  constructor(at: Origin, reason: string) {
    super(`${at.file}:${at.line}:${at.column}: ${reason}`)
    this.name = 'HoconError'
    this.file = at.file
    this.line = at.line
    this.column = at.column
    this.reason = reason
  }
}
