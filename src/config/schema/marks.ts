// Helpers every section file uses: sections with defaults, and the marks for keys without effect.
import { z } from 'zod'
import { EFFECTS } from '../types.js'

// Missing sections get their defaults: parse {} through the section schema.
export const section = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).prefault({} as never)

/**
 * A key, or a whole section, accepted for EMQX compatibility that never has an effect in Culex (Erlang VM
 * tuning and the like); `why` says why. Each such key set in a file gets one notice at start (and in culex check).
 */
export function noEffect<T extends z.ZodType> (schema: T, why: string): T {
  const marked = schema.describe(`Accepted for EMQX compatibility; no effect: ${why}`) as T
  EFFECTS.set(marked, { status: 'never', why })
  return marked
}

/**
 * A key, or a whole section, of an EMQX feature Culex has not built yet (`feature` names it): accepted with
 * EMQX's type and default, without effect, and said so at start for each such key set.
 */
export function notYet<T extends z.ZodType> (schema: T, feature: string, doc = ''): T {
  const marked = schema.describe(`${doc ? `${doc} ` : ''}Not yet implemented in Culex (${feature}): accepted without effect.`) as T
  EFFECTS.set(marked, { status: 'not-yet', why: feature })
  return marked
}

const ERLANG = 'an Erlang VM setting, Node has no equivalent'
export const erlang = <T extends z.ZodType>(schema: T): T => noEffect(schema, ERLANG)
export const enabled = z.enum(['enabled', 'disabled'])
export const nodeList = () => z.union([z.string(), z.array(z.string())])

export const NO_EFFECT_ERLANG = 'Accepted for EMQX compatibility; no effect: an Erlang/esockd setting Node has no counterpart for.'

export const stringList = () => z.union([z.string(), z.array(z.string())])
  .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v))
