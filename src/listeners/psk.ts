// TLS-PSK (EMQX `psk_authentication`): identities and shared secrets read once from init_file.
// The identity a client used is kept per socket, so it can stand in for a missing MQTT user name.
import { readFileSync } from 'node:fs'
import type { TLSSocket } from 'node:tls'
import type { CulexConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'

export class PskTable {
  readonly #keys = new Map<string, Buffer>()
  readonly #identities = new WeakMap<TLSSocket, string>()

  static load (config: CulexConfig['psk_authentication']): PskTable | undefined {
    if (!config.enable) return undefined
    const table = new PskTable()
    let text: string
    try {
      text = readFileSync(config.init_file, 'utf8')
    } catch (err) {
      throw new CulexError('CULEX_ERR_TLS_CONFIG', `psk_authentication.init_file ${config.init_file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
    }
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) return
      const at = line.indexOf(config.separator)
      if (at <= 0 || at === line.length - config.separator.length) {
        throw new CulexError('CULEX_ERR_TLS_CONFIG', `${config.init_file}:${i + 1}: expected PSKIdentity${config.separator}SharedSecret`)
      }
      const secret = line.slice(at + config.separator.length)
      // Hex, as mosquitto's --psk takes it; EMQX's examples are hex strings of the cipher's key length.
      table.#keys.set(line.slice(0, at), /^([0-9a-fA-F]{2})+$/.test(secret) ? Buffer.from(secret, 'hex') : Buffer.from(secret))
    })
    return table
  }

  get size (): number { return this.#keys.size }

  /** Node's pskCallback: the secret for an identity, or null to fail the handshake. */
  readonly callback = (socket: TLSSocket, identity: string): Buffer | null => {
    const key = this.#keys.get(identity)
    if (key) this.#identities.set(socket, identity)
    return key ?? null
  }

  identityOf (socket: TLSSocket): string | undefined {
    return this.#identities.get(socket)
  }
}
