// What the tests of a `culex start` with node.workers = 2 ask of it: its JSON log (the primary's and the
// workers' lines in one file), its management API (each request on a connection of its own, so on either
// worker), which worker holds a client, and clients placed on a given worker.
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { get as httpGet } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IClientOptions, MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { ADMIN, basic } from '../api/api-helpers.js'
import { connectClient, end, freePort, spawnBrokerProcess, until } from '../helpers.js'

export interface WorkersUnderTest { tcp: number, http: number, log: string }

/**
 * `culex start` with node.workers = 2 in a temporary directory (removed at teardown), its tcp listener and
 * the API on 127.0.0.1, the other listeners off, logging JSON at info to a file, `extra` HOCON lines after;
 * resolved once the primary logged that every worker is up.
 */
export async function startWorkers (t: Test, name: string, extra: string) {
  const dir = await mkdtemp(join(tmpdir(), `culex-${name}-`))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const [tcp, http] = [await freePort(), await freePort()]
  const log = join(dir, 'culex.log')
  const keys = join(dir, 'keys.txt')
  const data = join(dir, 'data')
  await writeFile(keys, `${ADMIN}\n`)
  const primary: ChildProcess = await spawnBrokerProcess(t, join(dir, 'culex.hocon'), `node.workers = 2
node.data_dir = "${data}"
listeners.tcp.default.bind = "127.0.0.1:${tcp}"
listeners.ws.default.enable = false
listeners.ssl.default.enable = false
listeners.wss.default.enable = false
dashboard.listeners.http.bind = "127.0.0.1:${http}"
api_key.bootstrap_file = "${keys}"
log.console.enable = false
log.file.default { enable = true, path = "${log}", level = info, formatter = json }
${extra}`, tcp)
  const helpers = workersHelpers({ tcp, http, log }, name)
  // The primary's line (the workers log theirs too, with their number).
  await until(async () => (await helpers.logLines()).some((l) => l.worker === undefined && /^culex \S+ started in \d+ ms$/.test(String(l.msg))), 'the primary logs culex started', 30_000)
  return { primary, data, tcp, ...helpers }
}

export function workersHelpers ({ tcp, http, log }: WorkersUnderTest, idPrefix: string) {
  async function logLines (): Promise<Record<string, unknown>[]> {
    const text = await readFile(log, 'utf8').catch(() => '')
    return text.split('\n').flatMap((line) => {
      try { return [JSON.parse(line) as Record<string, unknown>] } catch { return [] }
    })
  }

  /** GET of the management API; the body as text. */
  function apiText (path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = httpGet({ host: '127.0.0.1', port: http, path, agent: false, timeout: 3000, headers: { authorization: basic(ADMIN) } }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => { body += String(c) })
        res.on('end', () => resolve(body))
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
    })
  }

  const apiGet = async (path: string): Promise<unknown> => JSON.parse(await apiText(path)) as unknown

  const nodeOf = (id: string) => until(async () => {
    const c = await apiGet(`/api/v5/clients/${encodeURIComponent(id)}`).catch(() => null) as { node?: string } | null
    return c?.node ?? null
  }, `the node of ${id}`, 5000)

  /** The process of a worker, from its latest start line. */
  function pidOf (node: string): Promise<number> {
    return until(async () => (await logLines()).filter((l) => l.msg === 'workers: worker started' && l.worker === node).at(-1)?.pid as number | undefined,
      `the start line of ${node}`, 5000)
  }

  /** Both workers' node names, as the management API lists them. */
  function workerNames (): Promise<string[]> {
    return until(async () => {
      const nodes = await apiGet('/api/v5/nodes').catch(() => []) as { node: string }[]
      return nodes.length === 2 ? nodes.map((n) => n.node) : null
    }, 'the API lists both workers', 5000)
  }

  let made = 0
  /** An MQTT 5 client on the given worker, or on either. */
  async function clientOn (tt: Test, node: string | null, opts: IClientOptions = {}): Promise<{ c: MqttClient, node: string }> {
    // Which worker accepts is not the test's to choose: on a busy machine one may take several in a row.
    for (let attempt = 0; attempt < 20; attempt++) {
      const id = `${idPrefix}${++made}`
      const c = await connectClient(tcp, { clientId: id, protocolVersion: 5, reconnectPeriod: 0, ...opts })
      const on = await nodeOf(id)
      if (node === null || on === node) { tt.teardown(() => end(c, true)); return { c, node: on } }
      await end(c, true)
    }
    throw new Error(`no connection landed on ${node}`)
  }

  return { logLines, apiText, apiGet, nodeOf, pidOf, workerNames, clientOn }
}

export function rssKiB (pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0))
}

/** SIGSTOP to a process; the returned function sends SIGCONT, which the test's teardown sends if it has not. */
export function stopProcess (t: Test, pid: number): () => void {
  process.kill(pid, 'SIGSTOP')
  let resumed = false
  t.teardown(() => { if (!resumed) process.kill(pid, 'SIGCONT') })
  return () => {
    resumed = true
    process.kill(pid, 'SIGCONT')
  }
}
