// The young generation is sized by the broker's load, not by its start. Start-up (modules, the config
// schema, the management API) allocates tens of megabytes that survive, and V8 grows the young generation
// by what survives scavenges: to its 16 MB semi-space maximum before the first client connects, where it
// stays. Every scavenge then pauses for milliseconds (issue 19's latency windows), where a process that
// grew its young generation from its load alone pauses for a fraction of one. Node 20 cannot change the
// maximum once the process runs (--max-semi-space-size is read at start), but V8 reads the growth factor
// at every growth: it is 1 (no growth) while the broker starts, and V8's default (2) from then on.
// Only the command-line entry does this: a broker embedded in another program leaves its V8 alone.
import v8 from 'node:v8'

/** V8's own --semi-space-growth-factor (V8 11.3, Node 20). */
const V8_GROWTH_FACTOR = 2

/** Whether the process was started with a young-generation setting of its own (that one is kept). */
const chosen = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--(max-)?semi[-_]space/.test(a))

if (!chosen) v8.setFlagsFromString('--semi-space-growth-factor=1')

/** Once the broker has started: the young generation grows again from what survives under load. */
export function startedUp (): void {
  if (!chosen) v8.setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`)
}
