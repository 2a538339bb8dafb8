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
    /** The role of the request's API key or dashboard token (administrator when the API has no keys and the request no token). */
    apiRole: Role
    /** The dashboard user whose Bearer token the request carries, else null. */
    dashboardUser: string | null
  }
  interface FastifyContextConfig {
    /** Served without credentials (status, the OpenAPI document, login). */
    public?: boolean
    /** The dashboard's files: served without credentials, except under /api/. */
    dashboardFiles?: boolean
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

/** Whether two secrets are equal, in constant time whatever their lengths (both are hashed first). */
export function sameSecret (a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b))
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


/** The paths an API key may not use, as EMQX: dashboard users and logout take a dashboard login's token. */
const TOKEN_ONLY = /^\/api\/v5\/(users|logout)(\/|\?|$)/

/** Checks a request's basic-auth Authorization header against the keys; returns the key's role, or throws a 401 or 403 CulexError. */
export function authorize (keys: ApiKeys, header: string | undefined, method: string, path = ''): Role {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '')
  if (!m) {
    throw new CulexError('CULEX_ERR_API_NO_CREDENTIALS', 'Missing authorization header: use basic auth with an API key and secret (api_key.bootstrap_file), or a Bearer token from POST /api/v5/login')
  }
  const where = TOKEN_ONLY.exec(path)
  if (where) throw new CulexError('CULEX_ERR_API_KEY_NOT_ALLOWED', `Please use a Bearer token (POST /api/v5/login) instead: an API key may not be used for /api/v5/${where[1]!}`)
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const role = colon > 0 ? keys.verify(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined
  if (!role) throw new CulexError('CULEX_ERR_API_BAD_CREDENTIALS', 'Check api_key/api_secret')
  if (role === 'administrator' || (role === 'viewer' && READ_METHODS.has(method))) return role
  throw new CulexError('CULEX_ERR_API_ROLE', `the ${role} role may not ${method} this resource`)
}
