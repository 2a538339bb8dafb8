import { HoconError } from '../../src/config/hocon/index.js'

/** Runs `fn` and returns the HoconError it throws; anything else fails the test. */
export function hoconError(fn: () => unknown): HoconError {
  try {
    fn()
  } catch (err) {
    if (err instanceof HoconError) return err
    throw err
  }
  throw new Error('expected a HoconError, but nothing was thrown')
}

/** A `readFile` over an in-memory map of absolute paths; other paths fail like a missing file. */
export function stubReadFile(files: Record<string, string>): (absPath: string) => string {
  return (absPath) => {
    const text = files[absPath]
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${absPath}'`), { code: 'ENOENT' })
    return text
  }
}
