import { HoconError, type Origin } from './errors.js'
import {
  isResolved, mergeObjects, type ConcatNode, type MergeNode, type Node, type ObjNode, type Resolved, type SubstNode,
} from './nodes.js'

export type Env = Record<string, string | undefined>

const MISSING = Symbol('missing')
// Substitutions resolved inside one another (`a = ${b}`, `b = ${c}`, ..., or many `a += x`), so that a
// runaway chain fails cleanly instead of overflowing the stack.
const MAX_CHAIN = 1000

/** Resolves every substitution and turns the tree into plain values, noting where each was written. */
export function resolveTree(root: ObjNode, env: Env): { value: Record<string, unknown>; origins: Map<string, Origin> } {
  const origins = new Map<string, Origin>()
  const value = new Resolver(root, env, origins).plain(root, '') as Record<string, unknown>
  return { value, origins }
}

/** Resolves a value that stands alone (no config around it); undefined if it was only `${?missing}`. */
export function resolveStandalone(node: Node, root: ObjNode, env: Env): unknown {
  const value = new Resolver(root, env, new Map()).plain(node, '')
  return value === MISSING ? undefined : value
}

class Resolver {
  private readonly done = new Map<Node, Resolved | undefined>()
  private readonly busy = new Set<Node>()
  private readonly substs: SubstNode[] = []
  /** Objects and arrays being turned into plain values, to catch one that contains itself. */
  private readonly walking = new Set<Resolved>()

  constructor(private readonly root: ObjNode, private readonly env: Env, private readonly origins: Map<string, Origin>) {}

  plain(node: Node, path: string): unknown {
    const r = this.shallow(node)
    if (r === undefined) return MISSING
    // the root has no origin of its own; a root key named "" does
    if (node !== this.root) this.origins.set(path, this.originOf(node))
    if (r.kind === 'scalar') return r.value
    if (this.walking.has(r)) throw new HoconError(node.origin, `substitution cycle: the value of '${path}' contains itself`)
    this.walking.add(r)
    let out: unknown[] | Record<string, unknown>
    if (r.kind === 'arr') {
      out = []
      for (const item of r.items) {
        const v = this.plain(item, `${path}.${out.length}`)
        if (v !== MISSING) out.push(v)
      }
    } else {
      out = {}
      for (const [key, child] of r.fields) {
        const v = this.plain(child, path === '' ? key : `${path}.${key}`)
        if (v === MISSING) continue
        // a key named __proto__ must stay a plain key, not replace the prototype
        if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true })
        else out[key] = v
      }
    }
    this.walking.delete(r)
    return out
  }

  /** Where the value that `node` resolves to was written. */
  private originOf(node: Node): Origin {
    // `a = 1` then `a = ${?unset}`: a is still the 1 from before
    if (node.kind === 'merge' && this.shallow(node.over) === undefined) return this.originOf(node.base)
    return node.origin
  }

  /** The node's value as an object, array or scalar, whose children may still be unresolved. */
  private shallow(node: Node): Resolved | undefined {
    if (isResolved(node)) return node
    if (this.done.has(node)) return this.done.get(node)
    if (this.busy.has(node)) {
      const chain = [...this.substs, node].flatMap((n) => (n.kind === 'subst' ? [n.text] : []))
      throw new HoconError(node.origin, `substitution cycle: ${chain.join(' -> ')}`)
    }
    if (this.busy.size >= MAX_CHAIN) throw new HoconError(node.origin, `substitutions nested more than ${MAX_CHAIN} deep`)
    this.busy.add(node)
    const result = node.kind === 'subst' ? this.subst(node) : node.kind === 'concat' ? this.concat(node) : this.merge(node)
    this.busy.delete(node)
    this.done.set(node, result)
    return result
  }

  private subst(n: SubstNode): Resolved | undefined {
    this.substs.push(n)
    const self = n.selfPath !== undefined && startsWith(n.path, n.selfPath)
    let found = self ? this.lookup(n.prev, n.path.slice(n.selfPath?.length)) : this.lookup(this.root, n.path)
    if (found === undefined && n.fallback) found = this.lookup(this.root, n.fallback)
    this.substs.pop()
    if (found !== undefined) return found
    const fromEnv = n.envName === undefined ? undefined : this.env[n.envName]
    if (fromEnv !== undefined) return { kind: 'scalar', value: fromEnv, text: fromEnv, origin: n.origin }
    if (n.optional) return undefined
    throw new HoconError(n.origin, `unknown substitution ${n.text}: no such config path or environment variable`)
  }

  private lookup(node: Node | undefined, path: string[]): Resolved | undefined {
    let current = node
    for (const key of path) {
      const r = current && this.shallow(current)
      if (r?.kind !== 'obj') return undefined
      current = r.fields.get(key)
    }
    return current && this.shallow(current)
  }

  private concat(n: ConcatNode): Resolved | undefined {
    // each resolved part with the place it is written, for errors
    const parts: { r: Resolved; at: Origin }[] = []
    for (const part of n.parts) {
      const r = this.shallow(part)
      if (r !== undefined) parts.push({ r, at: part.origin })
    }
    // optional substitutions that resolved to nothing can leave whitespace at either end
    while (parts.length > 0 && isWs(parts[0].r)) parts.shift()
    while (parts.length > 0 && isWs(parts[parts.length - 1].r)) parts.pop()
    if (parts.length <= 1) return parts[0]?.r
    const solid = parts.filter((p) => !isWs(p.r)).map((p) => p.r)
    const kind = solid[0].kind
    const odd = parts.find((p) => !isWs(p.r) && p.r.kind !== kind)
    if (odd) throw new HoconError(odd.at, `cannot concatenate ${describe(solid[0])} with ${describe(odd.r)}`)
    if (kind === 'obj') return (solid as ObjNode[]).reduce((a, b) => mergeObjects(a, b))
    if (kind === 'arr') return { kind: 'arr', items: solid.flatMap((p) => (p.kind === 'arr' ? p.items : [])), origin: n.origin }
    const text = parts.map((p) => (p.r.kind === 'scalar' ? p.r.text : '')).join('')
    return { kind: 'scalar', value: text, text, origin: n.origin }
  }

  private merge(n: MergeNode): Resolved | undefined {
    const over = this.shallow(n.over)
    if (over === undefined) return this.shallow(n.base)
    if (over.kind !== 'obj') return over
    const base = this.shallow(n.base)
    return base?.kind === 'obj' ? mergeObjects(base, over) : over
  }
}

function isWs(node: Resolved): boolean {
  return node.kind === 'scalar' && node.ws === true
}

function describe(node: Resolved): string {
  return node.kind === 'obj' ? 'an object' : node.kind === 'arr' ? 'an array' : `a string ('${node.text}')`
}

function startsWith(path: string[], prefix: string[]): boolean {
  return prefix.length <= path.length && prefix.every((key, i) => path[i] === key)
}
