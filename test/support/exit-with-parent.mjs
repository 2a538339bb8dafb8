// Preloaded (--import) into the node processes tests spawn (test/processes.ts): such a process exits when
// the test process that started it (CULEX_TEST_PARENT_PID) is gone, even if that one was killed with
// SIGKILL before its teardown ran. The pid comes from the parent because this module may load only after
// the parent has died (process.ppid would then already be the adopting process).
const parent = Number(process.env.CULEX_TEST_PARENT_PID)
// Not passed on: what this process forks (node.workers) has this process as its parent, and goes with it.
delete process.env.CULEX_TEST_PARENT_PID
if (parent > 0) {
  const check = () => { if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL') }
  check()
  setInterval(check, 500).unref()
}
