// The PEM files a TLS client's settings name (cacertfile, certfile, keyfile), read once when the client is
// made: an unreadable one is a configuration error naming the key.
import { readFileSync } from 'node:fs'
import { CulexError, type ErrorCode } from '../errors.js'

export type TlsFileKey = 'cacertfile' | 'certfile' | 'keyfile'

/** Reads `settings[key]` when set; `where` is the settings' config path, `code` the error raised. */
export function readTlsFile (settings: Partial<Record<TlsFileKey, string>>, key: TlsFileKey, where: string, code: ErrorCode): Buffer | undefined {
  const file = settings[key]
  if (!file) return undefined
  try {
    return readFileSync(file)
  } catch (err) {
    throw new CulexError(code, `${where}.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
}
