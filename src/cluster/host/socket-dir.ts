// Where the workers' direct sockets live (src/cluster/host/direct.ts): node.data_dir/workers, made private
// (0700), one socket per worker named after the primary's process; when a path there would not fit in a
// Unix socket address (sun_path: 108 bytes on Linux, 104 on macOS) or the directory cannot be made, a
// private directory of its own under the system's temporary directory, removed at stop.
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Log } from '../../log.js'

/** The longest socket path every platform takes (macOS's sun_path, less its terminating NUL). */
const SUN_PATH_MAX = 103

export interface SocketDir {
  /** The socket path of worker `index` (1-based). */
  path (index: number): string
  /** Removes what is left (a worker that closes its socket removes it; one that was killed leaves it). */
  remove (): void
}

/** Makes the directory for `count` workers' sockets; null when none can be made (the workers then talk through the primary only). */
export function makeSocketDir (dataDir: string, count: number, log: Log): SocketDir | null {
  const name = (index: number) => `${process.pid}.${index}.sock`
  const fits = (dir: string) => Buffer.byteLength(join(dir, name(count))) <= SUN_PATH_MAX
  const under = resolve(dataDir, 'workers')
  if (fits(under)) {
    try {
      mkdirSync(under, { recursive: true, mode: 0o700 })
      chmodSync(under, 0o700)
      const path = (i: number) => join(under, name(i))
      return { path, remove: () => { for (let i = 1; i <= count; i++) rmSync(path(i), { force: true }) } }
    } catch (err) {
      log.warning({ dir: under, err: (err as Error).message }, 'workers: no directory for the direct sockets in node.data_dir; using one in the temporary directory')
    }
  }
  try {
    const dir = mkdtempSync(join(tmpdir(), 'culex-'))
    const remove = () => rmSync(dir, { recursive: true, force: true })
    if (!fits(dir)) { remove(); throw new Error(`${dir} is too long for a socket path`) }
    return { path: (i) => join(dir, name(i)), remove }
  } catch (err) {
    log.warning({ err: (err as Error).message }, 'workers: no directory for the direct sockets; messages between workers go through the primary')
    return null
  }
}
