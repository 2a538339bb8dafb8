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

/** The CA, certificate and key that `settings` name, read as readTlsFile reads each; only those set. */
export function readTlsFiles (settings: Partial<Record<TlsFileKey, string>>, where: string, code: ErrorCode): { ca?: Buffer, cert?: Buffer, key?: Buffer } {
  const files: { ca?: Buffer, cert?: Buffer, key?: Buffer } = {}
  const ca = readTlsFile(settings, 'cacertfile', where, code)
  const cert = readTlsFile(settings, 'certfile', where, code)
  const key = readTlsFile(settings, 'keyfile', where, code)
  if (ca) files.ca = ca
  if (cert) files.cert = cert
  if (key) files.key = key
  return files
}
