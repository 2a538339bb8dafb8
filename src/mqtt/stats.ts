// This node's current counts with EMQX's names (/api/v5/stats; a cluster node also writes them to
// Redis with each heartbeat for the cluster-wide sums). One pass over the sessions.
import type { Core } from './core.js'
import { parseShared } from './topic.js'

export const STATS = {
  'connections.count': 'Connected clients',
  'connections.max': 'Most connections open at once since start',
  'live_connections.count': 'Connected clients (EMQX: not counting those in hibernation)',
  'sessions.count': 'Sessions, connected or not',
  'subscriptions.count': 'Subscriptions, shared ones included',
  'subscriptions.shared.count': 'Shared subscriptions',
  'subscribers.count': 'Sessions with at least one subscription',
  'topics.count': 'Distinct topic filters subscribed to',
  'retained.count': 'Retained messages stored',
  'delayed.count': 'Delayed messages ($delayed/...) held',
  'delayed.max': 'Most delayed messages held at once since start',
} as const

export type StatName = keyof typeof STATS

/** What the counts are taken from: a view of the core. */
export type StatsSource = Pick<Core, 'sessions' | 'clients' | 'metrics' | 'tree' | 'retained' | 'delayed'>

export function nodeStats (core: StatsSource): Record<StatName, number> {
  let shared = 0
  let subscribers = 0
  const topics = new Set<string>()
  for (const session of core.sessions.values()) {
    if (session.subscriptions.size > 0) subscribers++
    for (const filter of session.subscriptions.keys()) {
      const s = parseShared(filter)
      if (s) shared++
      topics.add(s ? s.filter : filter)
    }
  }
  return {
    'connections.count': core.clients.size,
    'connections.max': core.metrics.connectionsMax,
    'live_connections.count': core.clients.size,
    'sessions.count': core.sessions.size,
    'subscriptions.count': core.tree.size,
    'subscriptions.shared.count': shared,
    'subscribers.count': subscribers,
    'topics.count': topics.size,
    'retained.count': core.retained.size,
    'delayed.count': core.delayed.size,
    'delayed.max': core.delayed.max,
  }
}
