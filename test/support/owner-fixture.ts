// A stand-in for a test process, for test/processes.test.ts: starts one child the way tests do, prints its
// pid, then ends as argv[2] says: `exit` (process.exit(1), as a failed test file does, no teardown run) or
// `hang` (waits to be killed, as a test that times out does).
import { spawnNodeOwned, spawnOwned } from '../processes.js'

const never = { teardown: () => {} }
const [mode, kind] = process.argv.slice(2)
const child = kind === 'node'
  ? spawnNodeOwned(never, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  : spawnOwned(never, 'sleep', ['60'], { stdio: 'ignore' })
process.stdout.write(`${child.pid}\n`)
if (mode === 'exit') setTimeout(() => process.exit(1), 100)
else setInterval(() => {}, 1000)
