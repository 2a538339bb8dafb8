// What the workers on one host (node.workers) and their primary process say over the IPC channel
// (node:cluster, JSON serialization). JSON, not 'advanced' (V8's serializer), because node:cluster hands
// every connection to a worker over this channel, and the worker acknowledges it there: a small message
// costs half as much each way in JSON (4.8 µs a round trip against 10.9). JSON has no bytes, so the few
// that cross here travel in base64: bus payloads relayed while a direct connection comes up (`p`),
// Buffer values of store writes (`{ b }` in place of the Buffer) and the results of the *Buffer reads.
import { availableParallelism } from 'node:os'
import type { CulexConfig } from '../../config/schema.js'
import { CulexError } from '../../errors.js'
import type { ClusterStore, StoreWrite } from '../store.js'

/** A cluster store operation the primary runs for a worker. */
export type StoreOp = keyof ClusterStore

/** A store operation: [id (0: not answered), operation, arguments]. */
export type StoreCall = [id: number, op: StoreOp, args: unknown[]]

/** A store operation's answer: [id, value] or [id, undefined, error message]. */
export type StoreReturn = [id: number, value: unknown, error?: string]

/** Another worker, as the primary announces it: its node name, process and direct socket (null: it has none). */
export interface PeerInfo { node: string, pid: number, path: string | null }

export type WorkerMessage =
  /** A bus payload for the workers named (node names), relayed by the primary while they have no direct connection. */
  | { t: 'tx', c: string, p: string, to: string | string[] }
  /**
   * Store operations, run in order; those with an id other than 0 are answered, all together, by one
   * `rets` (one message per batch each way, not per operation: a worker gathers what it asks in one turn).
   */
  | { t: 'calls', c: StoreCall[] }
  /**
   * The worker's bus is up, its direct socket listening at `path` (null: none); answered by a `ret` with
   * the other workers (PeerInfo[]) once every other worker has acknowledged the announcement.
   */
  | { t: 'join', id: number, path: string | null }
  /** An announcement (`peer`) applied: what this worker sends from now on reaches the new one. */
  | { t: 'peered', ack: number }
  /** Everything sent to `to` through the primary before this went first: `to` may read the direct connection `gen` from now on. */
  | { t: 'switch', to: string, gen: string }
  /** The primary's own figures (PrimaryFigures); answered by a `ret`. */
  | { t: 'figures', id: number }
  /** The worker's listeners are up. */
  | { t: 'ready' }

export type PrimaryMessage =
  /** A bus payload another worker sent. */
  | { t: 'rx', c: string, p: string }
  | { t: 'ret', id: number, v?: unknown, e?: string }
  /** The answers to a `calls`, in its order. */
  | { t: 'rets', r: StoreReturn[] }
  /** Whether the primary holds too much unsent for some worker: publishers wait while it does. */
  | { t: 'hold', on: boolean }
  /** Another worker joined (answered by `peered` with the same ack), or with `gone`, exited (not answered). */
  | { t: 'peer', ack: number, peer: PeerInfo, gone?: true }
  /** The direct connection `gen` from `from` may be read: what it sent through the primary before is here. */
  | { t: 'switch', from: string, gen: string }

/** A store write's Buffer as it travels. */
interface WireBuffer { b: string }

/** A store write as it travels: each Buffer in it as a WireBuffer (its other elements are strings and numbers). */
export function writeToWire (write: StoreWrite): unknown[] {
  return write.map((x) => Buffer.isBuffer(x) ? { b: x.toString('base64') } satisfies WireBuffer : x)
}

export function writeFromWire (wire: unknown[]): StoreWrite {
  return wire.map((x) => typeof x === 'object' && x !== null ? Buffer.from((x as WireBuffer).b, 'base64') : x) as StoreWrite
}

/** The store reads that answer with Buffers, and how their answers travel (base64 in place of each Buffer). */
export const BUFFER_READS: Partial<Record<StoreOp, (value: unknown) => unknown>> = {
  hgetBuffer: (v) => (v as Buffer | null)?.toString('base64') ?? null,
  lrangeBuffer: (v) => (v as Buffer[]).map((b) => b.toString('base64')),
  hgetallBuffer: (v) => Object.fromEntries(Object.entries(v as Record<string, Buffer>).map(([k, b]) => [k, b.toString('base64')])),
}

/** What the primary counts: payload bytes it relayed between workers (those without a direct connection yet). */
export interface PrimaryFigures { relayedBytes: number }

/** The environment variable that gives a worker the path of its direct socket (src/cluster/host/direct.ts). */
export const WORKER_SOCKET_ENV = 'CULEX_WORKER_SOCKET'

/** The environment variable that tells a process it is worker <i> (1-based) of the primary that forked it. */
export const WORKER_ENV = 'CULEX_WORKER'

/** A worker's node name: <name>-w<i>, before the @ when there is one (culex-w2@127.0.0.1). */
export function workerName (name: string, index: number): string {
  const at = name.indexOf('@')
  return at < 0 ? `${name}-w${index}` : `${name.slice(0, at)}-w${index}${name.slice(at)}`
}

/** node.workers as a count: auto is one per CPU core. */
export function workerCount (config: CulexConfig): number {
  return config.node.workers === 'auto' ? availableParallelism() : config.node.workers
}

/** The workers are their own cluster: refuses node.workers together with a Redis cluster. */
export function refuseWorkersWithRedis (config: CulexConfig): void {
  if (config.cluster.backend === 'redis') {
    throw new CulexError('CULEX_ERR_CONFIG_INVALID', 'node.workers > 1 cannot be combined with cluster.backend = redis: run one broker process per node (node.workers = 1), or the workers without Redis')
  }
}
