// API keys (EMQX api_key.bootstrap_file): one `key:secret` per line, optionally `:role`, `#` comments.
// Requests authenticate with HTTP basic auth, `curl -u key:secret`.
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { CulexError } from '../errors.js'
import { READ_METHODS } from './common.js'

/** EMQX's roles: administrator may do everything, viewer only reads, publisher only publishes. */
export const ROLES = ['administrator', 'viewer', 'publisher'] as const
export type Role = (typeof ROLES)[number]

interface ApiKey { secretHash: Buffer, role: Role }

declare module 'fastify' {
  interface FastifyRequest {
    /** The role of the request's API key (administrator when the API has no keys). */
    apiRole: Role
  }
  interface FastifyContextConfig {
    /** Served without an API key (status, the OpenAPI document). */
    public?: boolean
  }
}

export class ApiKeys {
  readonly #keys = new Map<string, ApiKey>()

  get size (): number { return this.#keys.size }

  add (key: string, secret: string, role: Role = 'administrator'): void {
    this.#keys.set(key, { secretHash: digest(secret), role })
  }

  /** The key's role when the secret is right, else undefined (in constant time for a known key). */
  verify (key: string, secret: string): Role | undefined {
    const entry = this.#keys.get(key)
    const given = digest(secret)
    if (!entry) return undefined
    return timingSafeEqual(given, entry.secretHash) ? entry.role : undefined
  }
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** Parses a bootstrap file's text; throws CULEX_ERR_API_KEYS naming file:line. */
export function parseApiKeys (text: string, file: string, keys = new ApiKeys()): ApiKeys {
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '' || line.startsWith('#')) continue
    const [key, secret, role, ...rest] = line.split(':')
    const fail = (why: string) => new CulexError('CULEX_ERR_API_KEYS', `${file}:${i + 1}: ${why}`)
    if (rest.length > 0 || !key || !secret) throw fail('expected key:secret or key:secret:role')
    if (role !== undefined && !(ROLES as readonly string[]).includes(role)) throw fail(`role ${JSON.stringify(role)} is not one of ${ROLES.join(', ')}`)
    keys.add(key, secret, role as Role | undefined)
  }
  return keys
}

/** Reads api_key.bootstrap_file; an empty path means no keys. */
export async function loadApiKeys (file: string): Promise<ApiKeys> {
  if (file === '') return new ApiKeys()
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new CulexError('CULEX_ERR_API_KEYS', `api_key.bootstrap_file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  return parseApiKeys(text, file)
}


/** Checks a request's Authorization header against the keys; returns the key's role, or throws a 401 or 403 CulexError. */
export function authorize (keys: ApiKeys, header: string | undefined, method: string): Role {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '')
  if (!m) {
    throw new CulexError('CULEX_ERR_API_NO_CREDENTIALS', 'Missing authorization header: use basic auth with an API key and secret (api_key.bootstrap_file)')
  }
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const role = colon > 0 ? keys.verify(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined
  if (!role) throw new CulexError('CULEX_ERR_API_BAD_CREDENTIALS', 'Check api_key/api_secret')
  if (role === 'administrator' || (role === 'viewer' && READ_METHODS.has(method))) return role
  throw new CulexError('CULEX_ERR_API_ROLE', `the ${role} role may not ${method} this resource`)
}
