// The suite's own promise: no process a test starts outlives it, even when the test fails or is killed.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const FIXTURE = fileURLToPath(new URL('./support/owner-fixture.ts', import.meta.url))

/** Running (a zombie, exited but not yet reaped by whoever adopted it, counts as gone). */
function alive (pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** Starts the fixture and reads the pid of the child it started. */
async function owner (mode: 'exit' | 'hang', kind: 'plain' | 'node') {
  const parent = spawn(process.execPath, ['--import=tsx', FIXTURE, mode, kind], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(parent.stdout!, 'data') as [Buffer]
  return { parent, child: Number(String(line).trim()) }
}

async function gone (pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (alive(pid)) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}

t.test('a test process that exits without its teardown still takes its child with it', async (t) => {
  const { parent, child } = await owner('exit', 'plain')
  t.ok(alive(child), 'the child ran')
  await once(parent, 'exit')
  t.ok(await gone(child), 'the child is gone once the test process has exited')
})

t.test('a test process killed with SIGALRM (a tap timeout) takes its child with it', async (t) => {
  const { parent, child } = await owner('hang', 'plain')
  parent.kill('SIGALRM')
  await once(parent, 'exit')
  t.ok(await gone(child), 'the child is gone')
})

t.test('a node child outlives no test process, even one killed with SIGKILL', async (t) => {
  const { parent, child } = await owner('hang', 'node')
  t.ok(alive(child), 'the node child ran')
  parent.kill('SIGKILL')
  await once(parent, 'exit')
  t.ok(await gone(child), 'the node child noticed and exited')
})
