// Processes a test starts (brokers, redis-server, openssl servers), each in its own process group so that
// everything it forks goes with it: killed at the test's teardown, and again, as a last resort, when the
// test process exits for any reason (a failure, a tap timeout's SIGALRM). Node children also get
// support/exit-with-parent.mjs, which ends them if the test process dies without running anything.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { onExit } from 'signal-exit'

type Teardown = { teardown: (fn: () => unknown) => void }

const owned = new Set<ChildProcess>()
let sweeping = false

/** Kills the child's whole process group (the child and what it forked); quiet when already gone. */
export function killGroup (child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return
  try { process.kill(-child.pid, signal) } catch { /* already gone */ }
}

function sweep (): void {
  for (const child of owned) killGroup(child)
  owned.clear()
}

/** spawn() in a new process group, killed (group and all) at the test's teardown and at this process's exit. */
export function spawnOwned (t: Teardown, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  if (!sweeping) {
    sweeping = true
    // signal-exit: on process exit and on the signals that end it (tap's SIGALRM at a timeout, SIGTERM, SIGINT).
    onExit(sweep, { alwaysLast: true })
  }
  const child = spawn(command, args, { ...options, detached: true })
  owned.add(child)
  child.once('exit', () => owned.delete(child))
  t.teardown(() => killGroup(child))
  return child
}

/** Node's arguments that make a spawned node process exit when this one is gone. */
export const EXIT_WITH_PARENT = ['--import', fileURLToPath(new URL('./support/exit-with-parent.mjs', import.meta.url))]

/** A node process (`node ...args`) owned as spawnOwned's children are, and ending with this one. */
export function spawnNodeOwned (t: Teardown, args: string[], options: SpawnOptions = {}): ChildProcess {
  const env = { ...(options.env ?? process.env), CULEX_TEST_PARENT_PID: String(process.pid) }
  return spawnOwned(t, process.execPath, [...EXIT_WITH_PARENT, ...args], { ...options, env })
}
