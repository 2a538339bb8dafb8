import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { buildFields, buildValue, type Scope } from './build.js'
import { HoconError, type Origin } from './errors.js'
import { newObj } from './nodes.js'
import { parseDocument, parseSingleValue } from './parser.js'
import { resolveStandalone, resolveTree, type Env } from './resolve.js'

export { HoconError, type Origin } from './errors.js'

export interface HoconResult {
  value: Record<string, unknown>
  /** Where each key path (joined with '.', array elements as 'a.b.0') got its value; the last write wins. */
  origins: Map<string, Origin>
}

export interface HoconFileOptions {
  /** Fallback for substitutions that name no config path. Default: process.env. */
  env?: Env
  /** Reads an include. Throw an error with code ENOENT (or any error without a code) for a missing file. */
  readFile?: (absPath: string) => string
}

export interface HoconOptions extends HoconFileOptions {
  /** Names the text in origins and errors, and anchors relative includes. Default: '<string>'. */
  file?: string
}

const defaultReadFile = (absPath: string): string => readFileSync(absPath, 'utf8')

export function parseHocon(text: string, opts: HoconOptions = {}): HoconResult {
  const file = opts.file ?? '<string>'
  const absFile = opts.file === undefined ? undefined : resolve(opts.file)
  const scope: Scope = {
    file,
    dir: absFile === undefined ? process.cwd() : dirname(absFile),
    includeStack: absFile === undefined ? [] : [absFile],
    substPrefix: [],
    readFile: opts.readFile ?? defaultReadFile,
  }
  const root = newObj({ file, line: 1, column: 1 })
  buildFields(parseDocument(text, file), root, [], scope)
  return resolveTree(root, opts.env ?? process.env)
}

export function parseHoconFile(path: string, opts: HoconFileOptions = {}): HoconResult {
  const readFile = opts.readFile ?? defaultReadFile
  let text: string
  try {
    text = readFile(resolve(path))
  } catch (err) {
    throw new HoconError({ file: path, line: 1, column: 1 }, `cannot read config file: ${(err as Error).message}`)
  }
  return parseHocon(text, { ...opts, file: path })
}

/**
 * Parses one HOCON value, as found in an environment variable: '42' -> 42, '1MB' -> '1MB',
 * '[a, b]' -> ['a', 'b'], '{a = 1}' -> { a: 1 }. Substitutions can only name environment variables.
 */
export function parseHoconValue(text: string, opts: { env?: Env } = {}): unknown {
  const file = '<value>'
  const scope: Scope = { file, dir: process.cwd(), includeStack: [], substPrefix: [], readFile: defaultReadFile }
  const node = buildValue(parseSingleValue(text, file), undefined, undefined, scope)
  return resolveStandalone(node, newObj({ file, line: 1, column: 1 }), opts.env ?? process.env)
}
