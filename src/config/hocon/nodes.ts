import type { Origin } from './errors.js'

export type Scalar = string | number | boolean | null

/**
 * The merged config before substitutions are resolved. Objects, arrays and scalars are final;
 * substitutions, concatenations and merges are resolved lazily, against the whole config.
 */
export type Node = ObjNode | ArrNode | ScalarNode | SubstNode | ConcatNode | MergeNode
export type Resolved = ObjNode | ArrNode | ScalarNode

export interface ObjNode {
  kind: 'obj'
  fields: Map<string, Node>
  origin: Origin
}

export interface ArrNode {
  kind: 'arr'
  items: Node[]
  origin: Origin
}

export interface ScalarNode {
  kind: 'scalar'
  value: Scalar
  /** The text as written, used when the scalar is part of a string concatenation (`1.0` stays `1.0`). */
  text: string
  /** Whitespace between two pieces of a concatenation; dropped next to objects and arrays. */
  ws?: boolean
  origin: Origin
}

export interface SubstNode {
  kind: 'subst'
  path: string[]
  /** Tried when `path` is absent: the unprefixed path of a substitution in an included file. */
  fallback?: string[]
  /** Environment variable consulted last; none for the implicit `${?a}` of `a += x`. */
  envName?: string
  optional: boolean
  /** As written, e.g. `${?a.b}`, for messages. */
  text: string
  origin: Origin
  /** Path of the field holding this substitution: a reference to it (or below it) means its previous value. */
  selfPath?: string[]
  prev?: Node
}

export interface ConcatNode {
  kind: 'concat'
  parts: Node[]
  origin: Origin
}

/** A later value over an earlier one that is not resolved yet: objects merge, anything else replaces. */
export interface MergeNode {
  kind: 'merge'
  base: Node
  over: Node
  origin: Origin
}

export function isResolved(node: Node): node is Resolved {
  return node.kind === 'obj' || node.kind === 'arr' || node.kind === 'scalar'
}

export function newObj(origin: Origin): ObjNode {
  return { kind: 'obj', fields: new Map(), origin }
}

/** The value of a key after `next` is written over `existing`. */
export function combine(existing: Node | undefined, next: Node): Node {
  if (existing === undefined || next.kind === 'scalar' || next.kind === 'arr') return next
  if (existing.kind === 'obj' && next.kind === 'obj') return mergeObjects(existing, next)
  if (next.kind === 'obj' && isResolved(existing)) return next
  return { kind: 'merge', base: existing, over: next, origin: next.origin }
}

/** A new object with the fields of `b` merged over those of `a`; neither is modified. */
export function mergeObjects(a: ObjNode, b: ObjNode): ObjNode {
  const fields = new Map(a.fields)
  for (const [key, value] of b.fields) fields.set(key, combine(fields.get(key), value))
  return { kind: 'obj', fields, origin: b.origin }
}
