// What the authentication and authorization routes share: EMQX's body of a whole new order
// ([{ "id": ... }] or [{ "type": ... }]) and its status answer for one authenticator or source on this node.
import { z } from 'zod'
import { CulexError } from '../errors.js'

/** The OpenAPI body of an order: an array of objects with one string field, `key`. */
export function orderSchema (key: 'id' | 'type', description: string, example: string) {
  return {
    type: 'array',
    items: { type: 'object', required: [key], properties: { [key]: { type: 'string', description } } },
    description: `Every member, once, in the order wanted: ${example}.`,
  } as const
}

/** The `key` values of an order body in order; 400 for a body that is not one. */
export function parseOrder (body: unknown, key: 'id' | 'type'): string[] {
  const parsed = z.array(z.strictObject({ [key]: z.string() })).safeParse(body)
  if (!parsed.success) throw new CulexError('CULEX_ERR_API_BAD_REQUEST', parsed.error.issues.map((i) => `${['order', ...i.path].join('.')}: ${i.message}`).join('; '))
  return parsed.data.map((e) => e[key] as string)
}

const rates = { rate: { type: 'number' }, rate_max: { type: 'number' }, rate_last5m: { type: 'number' } } as const

/** The OpenAPI answer of a status endpoint whose metrics are these counters (and EMQX's rates). */
export function statusSchema (counters: readonly string[], status: string) {
  const metrics = { type: 'object', properties: { ...Object.fromEntries(counters.map((c) => [c, { type: 'integer' }])), ...rates } } as const
  return {
    type: 'object',
    properties: {
      metrics,
      node_metrics: { type: 'array', items: { type: 'object', properties: { node: { type: 'string' }, metrics } } },
      status: { type: 'string', description: status },
      node_status: { type: 'array', items: { type: 'object', properties: { node: { type: 'string' }, status: { type: 'string' } } } },
      resource_metrics: { type: 'object', additionalProperties: true },
      node_resource_metrics: { type: 'array', items: { type: 'object', additionalProperties: true } },
      node_error: { type: 'array', items: { type: 'object', additionalProperties: true } },
    },
  } as const
}

/** EMQX's status answer, of this node only. */
export function statusAnswer (node: string, metrics: Record<string, number>, status: 'connected' | 'disconnected'): Record<string, unknown> {
  return {
    metrics, node_metrics: [{ node, metrics }],
    status, node_status: [{ node, status }],
    resource_metrics: {}, node_resource_metrics: [], node_error: [],
  }
}
