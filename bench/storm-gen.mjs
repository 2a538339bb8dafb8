#!/usr/bin/env node
// A plain-TCP connection storm for bench/workers.mjs: --connections MQTT 3.1.1 clients (clean session,
// keepalive 0), at most --parallel connecting at once, each timed from connect() to its CONNACK and then
// kept open until all are in (so a worker's share can be counted from its sockets). Prints one JSON line:
// connections/s and the accept latency's p50, p99 and max in ms. Bounded by --timeout seconds.
import net from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    connections: { type: 'string', default: '2000' },
    parallel: { type: 'string', default: '100' },
    timeout: { type: 'string', default: '60' },
    hold: { type: 'string', default: '0' },
  },
})
const total = Number(values.connections)
const parallel = Number(values.parallel)

/** CONNECT, MQTT 3.1.1, clean session, keepalive 0, the given client id. */
function connectPacket (clientId) {
  const id = Buffer.from(clientId)
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0, id.length >> 8, id.length & 0xff]), id])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

const latencies = []
const sockets = []
let started = 0
let failed = 0
const t0 = process.hrtime.bigint()

function one () {
  if (started >= total) return
  const i = started++
  const begin = process.hrtime.bigint()
  const socket = net.connect({ host: values.host, port: Number(values.port) })
  socket.setNoDelay(true)
  sockets.push(socket)
  let got = 0
  socket.on('connect', () => socket.write(connectPacket(`storm-${process.pid}-${i}`)))
  socket.on('data', (d) => {
    if (got >= 4) return
    got += d.length
    if (got >= 4) {
      latencies.push(Number(process.hrtime.bigint() - begin) / 1e6)
      done()
    }
  })
  socket.on('error', () => {})
  socket.on('close', () => { if (got < 4) { failed++; done() } })
}

let finished = 0
function done () {
  finished++
  if (finished === total) return report()
  one()
}

function report () {
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  const s = [...latencies].sort((a, b) => a - b)
  const at = (q) => s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN
  process.stderr.write('storm-done\n')
  const out = { connections: total, connected: s.length, failed, elapsed_s: elapsed, per_s: s.length / elapsed, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: s.at(-1) ?? NaN }
  // Held a moment so that the broker's sockets can be counted, then closed.
  setTimeout(() => {
    console.log(JSON.stringify(out))
    for (const socket of sockets) socket.destroy()
    process.exit(0)
  }, Number(values.hold) * 1000)
}

setTimeout(() => { console.log(JSON.stringify({ error: `not done within ${values.timeout} s`, connected: latencies.length })); process.exit(1) }, Number(values.timeout) * 1000).unref()
for (let i = 0; i < parallel; i++) one()
