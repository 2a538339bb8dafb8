import { dirname, resolve } from 'node:path'
import type { Field, Piece, Pos, Value } from './ast.js'
import { HoconError, type Origin } from './errors.js'
import { combine, newObj, type Node, type ObjNode, type Scalar } from './nodes.js'
import { parseDocument } from './parser.js'

/** What the fields being built need to know about the file they come from. */
export interface Scope {
  file: string
  dir: string
  /** Absolute paths of the files being included, outermost first, to catch include cycles. */
  includeStack: readonly string[]
  /** Path of the object an included file was included into; its substitutions are relative to it. */
  substPrefix: readonly string[]
  readFile: (absPath: string) => string
}

const MAX_INCLUDE_DEPTH = 32
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/

/**
 * Writes `fields` into `target`, in order. `at` is the path of `target` from the root, or
 * undefined for an object that is not (yet) part of the tree, such as one inside an array.
 */
export function buildFields(fields: Field[], target: ObjNode, at: string[] | undefined, scope: Scope): void {
  for (const field of fields) {
    if (field.kind === 'include') include(field.name, field.required, originOf(scope, field.pos), target, at, scope)
    else assign(field, target, at, scope)
  }
}

/** Builds one value; `prev` is what its field held before, for self-references. */
export function buildValue(value: Value, at: string[] | undefined, prev: Node | undefined, scope: Scope): Node {
  const { pieces } = value
  if (pieces.length === 1 && pieces[0].kind === 'text') {
    const { text, pos } = pieces[0]
    return { kind: 'scalar', value: typed(text), text, origin: originOf(scope, pos) }
  }
  const nodes = pieces.map((piece) => pieceNode(piece, at, prev, scope))
  if (nodes.length === 1) return nodes[0]
  if (nodes.every((n) => n.kind === 'scalar')) {
    const text = nodes.map((n) => n.text).join('')
    return { kind: 'scalar', value: text, text, origin: nodes[0].origin }
  }
  return { kind: 'concat', parts: nodes, origin: nodes[0].origin }
}

function assign(field: Extract<Field, { kind: 'field' }>, target: ObjNode, at: string[] | undefined, scope: Scope): void {
  const origin = originOf(scope, field.pos)
  let obj = target
  let path = at
  for (const key of field.path.slice(0, -1)) {
    obj = childObject(obj, key, origin)
    path = path && [...path, key]
  }
  const key = field.path[field.path.length - 1]
  path = path && [...path, key]
  const existing = obj.fields.get(key)
  const only = field.value.pieces.length === 1 ? field.value.pieces[0] : undefined
  if (only?.kind === 'object' && !field.append) {
    // Merge in place, so fields inside see what this object already holds as their previous value.
    const into = existing?.kind === 'obj' ? existing : newObj(originOf(scope, only.pos))
    into.origin = originOf(scope, only.pos)
    buildFields(only.fields, into, path, scope)
    if (into !== existing) obj.fields.set(key, combine(existing, into))
    return
  }
  let node = buildValue(field.value, path, existing, scope)
  if (field.append) {
    // `a += x` means `a = ${?a} [x]`.
    const selfPath = path ?? [key]
    const text = `\${?${selfPath.join('.')}}`
    const self: Node = { kind: 'subst', path: selfPath, optional: true, text, origin, selfPath, prev: existing }
    node = { kind: 'concat', parts: [self, { kind: 'arr', items: [node], origin: node.origin }], origin: node.origin }
  }
  obj.fields.set(key, combine(existing, node))
}

/** The object at `obj[key]`, created if needed, for dotted keys such as `a.b.c = 1`. */
function childObject(obj: ObjNode, key: string, origin: Origin): ObjNode {
  const existing = obj.fields.get(key)
  if (existing?.kind === 'obj') {
    existing.origin = origin
    return existing
  }
  const fresh = newObj(origin)
  obj.fields.set(key, combine(existing, fresh))
  return fresh
}

function pieceNode(piece: Piece, at: string[] | undefined, prev: Node | undefined, scope: Scope): Node {
  const origin = originOf(scope, piece.pos)
  switch (piece.kind) {
    case 'text':
    case 'string':
      return { kind: 'scalar', value: piece.text, text: piece.text, origin }
    case 'ws':
      return { kind: 'scalar', value: piece.text, text: piece.text, ws: true, origin }
    case 'subst': {
      const prefixed = scope.substPrefix.length > 0
      return {
        kind: 'subst',
        path: prefixed ? [...scope.substPrefix, ...piece.path] : piece.path,
        fallback: prefixed ? piece.path : undefined,
        envName: piece.path.join('.'),
        optional: piece.optional,
        text: piece.text,
        origin,
        selfPath: at,
        prev,
      }
    }
    case 'object': {
      const obj = newObj(origin)
      buildFields(piece.fields, obj, undefined, scope)
      return obj
    }
    case 'array':
      return { kind: 'arr', items: piece.items.map((item) => buildValue(item, at, prev, scope)), origin }
  }
}

function include(name: string, required: boolean, origin: Origin, target: ObjNode, at: string[] | undefined, scope: Scope): void {
  const file = resolve(scope.dir, name)
  if (scope.includeStack.includes(file)) throw new HoconError(origin, `include cycle: ${name} includes itself`)
  if (scope.includeStack.length >= MAX_INCLUDE_DEPTH) throw new HoconError(origin, `includes nested too deeply at ${name}`)
  let text: string
  try {
    text = scope.readFile(file)
  } catch (err) {
    if (!isNotFound(err)) throw new HoconError(origin, `cannot read include file ${name}: ${(err as Error).message}`)
    if (required) throw new HoconError(origin, `include file not found: ${name}`)
    return // HOCON: a missing file that is not required is ignored
  }
  buildFields(parseDocument(text, file, at?.length ?? 0), target, at, {
    ...scope,
    file,
    dir: dirname(file),
    includeStack: [...scope.includeStack, file],
    substPrefix: at ?? scope.substPrefix,
  })
}

/** ENOENT/ENOTDIR, or any error without a code (a `readFile` stub saying "no such file"). */
function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === undefined || code === 'ENOENT' || code === 'ENOTDIR'
}

function typed(text: string): Scalar {
  if (text === 'true') return true
  if (text === 'false') return false
  if (text === 'null') return null
  return NUMBER.test(text) ? Number(text) : text
}

function originOf(scope: Scope, pos: Pos): Origin {
  return { file: scope.file, line: pos.line, column: pos.column }
}
