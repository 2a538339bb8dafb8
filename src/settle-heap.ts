// Start-up leaves megabytes of young objects that live on (the configuration, the schema, the API's
// routes): under load, the first two young-generation collections would copy and then promote them,
// pausing the first clients' messages for 2-3 ms each (BENCHMARKS.md, issue 19's latency windows). The
// same two collections right after start-up, while no client waits, do it then. (A full collection would
// too, and free start-up's garbage, but in one pause of ~40 ms.)
// Node has no API for a collection: V8's gc function comes from --expose-gc, set here at run time and
// visible only in the context made for it (the broker's own global gets no `gc`).
import v8 from 'node:v8'
import vm from 'node:vm'

type Gc = (options: { type: 'minor' }) => void

/** Two young-generation collections: the first ages start-up's survivors, the second promotes them. */
export function settleHeap (): void {
  let gc = (globalThis as { gc?: Gc }).gc
  if (typeof gc !== 'function') {
    v8.setFlagsFromString('--expose-gc')
    gc = vm.runInNewContext('gc') as Gc
  }
  gc({ type: 'minor' })
  gc({ type: 'minor' })
}
