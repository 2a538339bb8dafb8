// What every route module shares: the broker parts it reads, EMQX's error shape, paging and time formats.
import type { AuthnChain } from '../auth/chain.js'
import type { Authorizer } from '../auth/authz.js'
import type { DeviceRegistry } from '../certs/registry.js'
import type { CertStore } from '../certs/store.js'
import type { CulexConfig } from '../config/schema.js'
import type { Cluster } from '../cluster/cluster.js'
import type { Listener } from '../listeners/index.js'
import type { Log } from '../log.js'
import type { Core } from '../mqtt/core.js'

/** The parts of the MQTT core the routes read or act on. */
export type ApiCore = Pick<Core, 'config' | 'clients' | 'connections' | 'sessions' | 'registry' | 'metrics' | 'banned' | 'delayed' | 'closing' | 'startedAt' | 'tree' | 'retained' | 'retainer' | 'alarms'>

/** The broker as the API sees it (the Broker class satisfies it). */
export interface ApiHost {
  readonly config: CulexConfig
  readonly log: Log
  readonly core: ApiCore
  readonly listeners: Listener[]
  readonly certStore: CertStore
  readonly registry: DeviceRegistry
  readonly version: string
  /** The authenticator chain (src/auth/chain.ts), for /api/v5/authentication. */
  readonly authn?: AuthnChain
  /** Authorization (src/auth/authz.ts), for /api/v5/authorization. */
  readonly authz?: Authorizer
  /** This node's cluster (cluster.backend = redis), else null or absent. */
  readonly cluster?: Cluster | null
}

/** The methods that change nothing: a viewer key may use them, and no origin check applies to them. */
export const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])

// Errors: a route throws a CulexError whose code has an `http` entry in src/errors.ts (CULEX_ERR_API_*);
// the error handler (server.ts) answers EMQX's `{ code, message }` with that status.

export const ERROR_SCHEMA_ID = 'ApiError'

export const errorSchema = {
  $id: ERROR_SCHEMA_ID,
  type: 'object',
  description: 'EMQX error body',
  properties: {
    code: { type: 'string', description: 'BAD_REQUEST, NOT_FOUND, BAD_API_KEY_OR_SECRET, ...' },
    message: { type: 'string' },
    field: { type: 'string', description: 'Culex: the request field at fault, when one is (a certificate upload: key, chain, ca, key_password, name)' },
    rule: { type: 'string', description: 'Culex: the rule it broke (a certificate upload: pem, key_match, chain_order, ...)' },
  },
  required: ['code', 'message'],
} as const

/** Response schemas for these error statuses, for the route's OpenAPI entry. */
export function errors (...statuses: number[]): Record<number, { $ref: string }> {
  return Object.fromEntries(statuses.map((s) => [s, { $ref: `${ERROR_SCHEMA_ID}#` }]))
}

export const NO_CONTENT = { type: 'null', description: 'Done' } as const

// ---- paging (EMQX: ?page=1&limit=100 → { data, meta: { page, limit, count, hasnext } }) ----

export const pageQuery = {
  page: { type: 'integer', minimum: 1, default: 1, description: 'Page number, from 1' },
  limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100, description: 'Items per page' },
} as const

export const pageMeta = {
  type: 'object',
  properties: {
    page: { type: 'integer' },
    limit: { type: 'integer' },
    count: { type: 'integer', description: 'Items matching, over all pages' },
    hasnext: { type: 'boolean' },
  },
} as const

export interface Paged<T> { data: T[], meta: { page: number, limit: number, count: number, hasnext: boolean } }

export function paginate<T> (items: T[], page: number, limit: number): Paged<T> {
  const start = (page - 1) * limit
  return { data: items.slice(start, start + limit), meta: { page, limit, count: items.length, hasnext: start + limit < items.length } }
}

/** RFC 3339 with the offset written `+00:00`, as EMQX prints it; seconds unless `millis`. */
export function rfc3339 (ms: number, millis = false): string {
  const iso = new Date(millis ? ms : Math.floor(ms / 1000) * 1000).toISOString()
  return millis ? iso.replace('Z', '+00:00') : iso.replace('.000Z', '+00:00')
}
